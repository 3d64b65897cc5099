
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'mist' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'mist'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'mist' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('convert', 'convert', [CompletionResultType]::ParameterValue, 'Convert media from one container to another (packets are copied, never re-encoded)')
            [CompletionResult]::new('remux', 'remux', [CompletionResultType]::ParameterValue, 'Remux a file (same engine as convert), or package it into a folder (HLS, DASH, HDS, Smooth)')
            [CompletionResult]::new('analyse', 'analyse', [CompletionResultType]::ParameterValue, 'Print what a file holds: tracks, codecs, timing, and with --detail every structure')
            [CompletionResult]::new('analyze', 'analyze', [CompletionResultType]::ParameterValue, 'Print what a file holds: tracks, codecs, timing, and with --detail every structure')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve live and on-demand streams (RTMP, HLS, HTTP progressive, API)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mist;convert' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Output format (default: from the output''s extension); `hls` (TS segments), `hls-fmp4` (CMAF segments), `dash` (an MPD over CMAF segments), `hds` and `smooth` write a folder of playlists or manifests and segments')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Input format (default: detected from the content, then the extension)')
            [CompletionResult]::new('--tracks', '--tracks', [CompletionResultType]::ParameterName, 'Tracks to keep: ids, video, audio, meta, a codec name, all; `-x` removes (all,-meta). Default: every track the output format can carry')
            [CompletionResult]::new('--start', '--start', [CompletionResultType]::ParameterName, 'Start at the keyframe at or before this time (seconds from the start of the input, or [h:]m:s)')
            [CompletionResult]::new('--end', '--end', [CompletionResultType]::ParameterName, 'Stop before this time (seconds from the start of the input, or [h:]m:s)')
            [CompletionResult]::new('--fps', '--fps', [CompletionResultType]::ParameterName, 'Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream''s VUI timing, else 25')
            [CompletionResult]::new('--program', '--program', [CompletionResultType]::ParameterName, 'The program to read from a multi-program MPEG-TS (its program_number); default: the first in the PAT')
            [CompletionResult]::new('--fragment-duration', '--fragment-duration', [CompletionResultType]::ParameterName, 'Fragmented MP4: cut fragments of about this many milliseconds (at keyframes), instead of one per keyframe group')
            [CompletionResult]::new('--segment-duration', '--segment-duration', [CompletionResultType]::ParameterName, 'Packaging (`--to hls|hls-fmp4|dash|hds|smooth`): shortest segment in seconds; segments start at the first keyframe at least this long after the previous start (default 1.9, MistServer''s)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite the output if it exists')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite the output if it exists')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bar')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bar')
            [CompletionResult]::new('--strip-tags', '--strip-tags', [CompletionResultType]::ParameterName, 'Leave the source''s tags (an MP3''s ID3v2 tag) out of the output')
            [CompletionResult]::new('--sidx', '--sidx', [CompletionResultType]::ParameterName, 'Fragmented MP4: write a segment index (`sidx`) before each fragment')
            [CompletionResult]::new('--salvage', '--salvage', [CompletionResultType]::ParameterName, 'Write what is readable of a damaged input (an interrupted recording, a corrupt region), with one warning per damaged region, instead of refusing it')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mist;remux' {
            [CompletionResult]::new('--to', '--to', [CompletionResultType]::ParameterName, 'Output format (default: from the output''s extension); `hls` (TS segments), `hls-fmp4` (CMAF segments), `dash` (an MPD over CMAF segments), `hds` and `smooth` write a folder of playlists or manifests and segments')
            [CompletionResult]::new('--from', '--from', [CompletionResultType]::ParameterName, 'Input format (default: detected from the content, then the extension)')
            [CompletionResult]::new('--tracks', '--tracks', [CompletionResultType]::ParameterName, 'Tracks to keep: ids, video, audio, meta, a codec name, all; `-x` removes (all,-meta). Default: every track the output format can carry')
            [CompletionResult]::new('--start', '--start', [CompletionResultType]::ParameterName, 'Start at the keyframe at or before this time (seconds from the start of the input, or [h:]m:s)')
            [CompletionResult]::new('--end', '--end', [CompletionResultType]::ParameterName, 'Stop before this time (seconds from the start of the input, or [h:]m:s)')
            [CompletionResult]::new('--fps', '--fps', [CompletionResultType]::ParameterName, 'Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream''s VUI timing, else 25')
            [CompletionResult]::new('--program', '--program', [CompletionResultType]::ParameterName, 'The program to read from a multi-program MPEG-TS (its program_number); default: the first in the PAT')
            [CompletionResult]::new('--fragment-duration', '--fragment-duration', [CompletionResultType]::ParameterName, 'Fragmented MP4: cut fragments of about this many milliseconds (at keyframes), instead of one per keyframe group')
            [CompletionResult]::new('--segment-duration', '--segment-duration', [CompletionResultType]::ParameterName, 'Packaging (`--to hls|hls-fmp4|dash|hds|smooth`): shortest segment in seconds; segments start at the first keyframe at least this long after the previous start (default 1.9, MistServer''s)')
            [CompletionResult]::new('-f', '-f', [CompletionResultType]::ParameterName, 'Overwrite the output if it exists')
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Overwrite the output if it exists')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress bar')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress bar')
            [CompletionResult]::new('--strip-tags', '--strip-tags', [CompletionResultType]::ParameterName, 'Leave the source''s tags (an MP3''s ID3v2 tag) out of the output')
            [CompletionResult]::new('--sidx', '--sidx', [CompletionResultType]::ParameterName, 'Fragmented MP4: write a segment index (`sidx`) before each fragment')
            [CompletionResult]::new('--salvage', '--salvage', [CompletionResultType]::ParameterName, 'Write what is readable of a damaged input (an interrupted recording, a corrupt region), with one warning per damaged region, instead of refusing it')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mist;analyse' {
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'How much to print: 0 summary, 1 every packet, 2 structures, 3 hex dumps')
            [CompletionResult]::new('--detail', '--detail', [CompletionResultType]::ParameterName, 'How much to print: 0 summary, 1 every packet, 2 structures, 3 hex dumps')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Input format (default: detected from the content, then the extension)')
            [CompletionResult]::new('--fps', '--fps', [CompletionResultType]::ParameterName, 'Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream''s VUI timing, else 25')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'Only this PID (MPEG-TS; decimal or 0x hex)')
            [CompletionResult]::new('--program', '--program', [CompletionResultType]::ParameterName, 'The program to read from a multi-program MPEG-TS (its program_number); default: the first in the PAT')
            [CompletionResult]::new('--validate', '--validate', [CompletionResultType]::ParameterName, 'Check the file against its spec; exit 1 if an error is found')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (shape documented in docs/analyse-json.md)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mist;analyze' {
            [CompletionResult]::new('-d', '-d', [CompletionResultType]::ParameterName, 'How much to print: 0 summary, 1 every packet, 2 structures, 3 hex dumps')
            [CompletionResult]::new('--detail', '--detail', [CompletionResultType]::ParameterName, 'How much to print: 0 summary, 1 every packet, 2 structures, 3 hex dumps')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Input format (default: detected from the content, then the extension)')
            [CompletionResult]::new('--fps', '--fps', [CompletionResultType]::ParameterName, 'Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream''s VUI timing, else 25')
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'Only this PID (MPEG-TS; decimal or 0x hex)')
            [CompletionResult]::new('--program', '--program', [CompletionResultType]::ParameterName, 'The program to read from a multi-program MPEG-TS (its program_number); default: the first in the PAT')
            [CompletionResult]::new('--validate', '--validate', [CompletionResultType]::ParameterName, 'Check the file against its spec; exit 1 if an error is found')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print JSON (shape documented in docs/analyse-json.md)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mist;serve' {
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Configuration file (JSON, MistServer''s shape); the API saves changes to it')
            [CompletionResult]::new('--http', '--http', [CompletionResultType]::ParameterName, 'HTTP listen address ("off" to disable)')
            [CompletionResult]::new('--rtmp', '--rtmp', [CompletionResultType]::ParameterName, 'RTMP listen address ("off" to disable)')
            [CompletionResult]::new('--api', '--api', [CompletionResultType]::ParameterName, 'API listen address ("off" to disable)')
            [CompletionResult]::new('--dtsc', '--dtsc', [CompletionResultType]::ParameterName, 'DTSC listen address, MistServer''s server-to-server protocol (MistServer uses 0.0.0.0:4200; "off" to disable)')
            [CompletionResult]::new('--stream', '--stream', [CompletionResultType]::ParameterName, 'A stream: NAME=SOURCE (push://, push://HOST@PASSWORD, a file, a folder/, or a URL to pull: rtmp://, dtsc://, http(s)://, tsudp://, ts-exec:COMMAND)')
            [CompletionResult]::new('--account', '--account', [CompletionResultType]::ParameterName, 'Create (or replace) an API account: USER:PASSWORD. Other addresses than this machine''s must log in with it (MistServer''s challenge-response)')
            [CompletionResult]::new('--api-token', '--api-token', [CompletionResultType]::ParameterName, 'Accept API requests from anywhere that send "Authorization: Bearer TOKEN"')
            [CompletionResult]::new('--access-log', '--access-log', [CompletionResultType]::ParameterName, 'Log every HTTP request to FILE (Common Log Format, appended)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mist;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'mist;help' {
            [CompletionResult]::new('convert', 'convert', [CompletionResultType]::ParameterValue, 'Convert media from one container to another (packets are copied, never re-encoded)')
            [CompletionResult]::new('remux', 'remux', [CompletionResultType]::ParameterValue, 'Remux a file (same engine as convert), or package it into a folder (HLS, DASH, HDS, Smooth)')
            [CompletionResult]::new('analyse', 'analyse', [CompletionResultType]::ParameterValue, 'Print what a file holds: tracks, codecs, timing, and with --detail every structure')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Serve live and on-demand streams (RTMP, HLS, HTTP progressive, API)')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'mist;help;convert' {
            break
        }
        'mist;help;remux' {
            break
        }
        'mist;help;analyse' {
            break
        }
        'mist;help;serve' {
            break
        }
        'mist;help;completions' {
            break
        }
        'mist;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
