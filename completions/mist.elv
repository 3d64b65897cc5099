
use builtin;
use str;

set edit:completion:arg-completer[mist] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'mist'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'mist'= {
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand convert 'Convert media from one container to another (packets are copied, never re-encoded)'
            cand remux 'Remux a file (same engine as convert), or package it into a folder (HLS, DASH, HDS, Smooth)'
            cand analyse 'Print what a file holds: tracks, codecs, timing, and with --detail every structure'
            cand analyze 'Print what a file holds: tracks, codecs, timing, and with --detail every structure'
            cand serve 'Serve live and on-demand streams (RTMP, HLS, HTTP progressive, API)'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mist;convert'= {
            cand --to 'Output format (default: from the output''s extension); `hls` (TS segments), `hls-fmp4` (CMAF segments), `dash` (an MPD over CMAF segments), `hds` and `smooth` write a folder of playlists or manifests and segments'
            cand --from 'Input format (default: detected from the content, then the extension)'
            cand --tracks 'Tracks to keep: ids, video, audio, meta, a codec name, all; `-x` removes (all,-meta). Default: every track the output format can carry'
            cand --start 'Start at the keyframe at or before this time (seconds from the start of the input, or [h:]m:s)'
            cand --end 'Stop before this time (seconds from the start of the input, or [h:]m:s)'
            cand --fps 'Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream''s VUI timing, else 25'
            cand --program 'The program to read from a multi-program MPEG-TS (its program_number); default: the first in the PAT'
            cand --fragment-duration 'Fragmented MP4: cut fragments of about this many milliseconds (at keyframes), instead of one per keyframe group'
            cand --segment-duration 'Packaging (`--to hls|hls-fmp4|dash|hds|smooth`): shortest segment in seconds; segments start at the first keyframe at least this long after the previous start (default 1.9, MistServer''s)'
            cand -f 'Overwrite the output if it exists'
            cand --force 'Overwrite the output if it exists'
            cand -q 'No progress bar'
            cand --quiet 'No progress bar'
            cand --strip-tags 'Leave the source''s tags (an MP3''s ID3v2 tag) out of the output'
            cand --sidx 'Fragmented MP4: write a segment index (`sidx`) before each fragment'
            cand --salvage 'Write what is readable of a damaged input (an interrupted recording, a corrupt region), with one warning per damaged region, instead of refusing it'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mist;remux'= {
            cand --to 'Output format (default: from the output''s extension); `hls` (TS segments), `hls-fmp4` (CMAF segments), `dash` (an MPD over CMAF segments), `hds` and `smooth` write a folder of playlists or manifests and segments'
            cand --from 'Input format (default: detected from the content, then the extension)'
            cand --tracks 'Tracks to keep: ids, video, audio, meta, a codec name, all; `-x` removes (all,-meta). Default: every track the output format can carry'
            cand --start 'Start at the keyframe at or before this time (seconds from the start of the input, or [h:]m:s)'
            cand --end 'Stop before this time (seconds from the start of the input, or [h:]m:s)'
            cand --fps 'Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream''s VUI timing, else 25'
            cand --program 'The program to read from a multi-program MPEG-TS (its program_number); default: the first in the PAT'
            cand --fragment-duration 'Fragmented MP4: cut fragments of about this many milliseconds (at keyframes), instead of one per keyframe group'
            cand --segment-duration 'Packaging (`--to hls|hls-fmp4|dash|hds|smooth`): shortest segment in seconds; segments start at the first keyframe at least this long after the previous start (default 1.9, MistServer''s)'
            cand -f 'Overwrite the output if it exists'
            cand --force 'Overwrite the output if it exists'
            cand -q 'No progress bar'
            cand --quiet 'No progress bar'
            cand --strip-tags 'Leave the source''s tags (an MP3''s ID3v2 tag) out of the output'
            cand --sidx 'Fragmented MP4: write a segment index (`sidx`) before each fragment'
            cand --salvage 'Write what is readable of a damaged input (an interrupted recording, a corrupt region), with one warning per damaged region, instead of refusing it'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mist;analyse'= {
            cand -d 'How much to print: 0 summary, 1 every packet, 2 structures, 3 hex dumps'
            cand --detail 'How much to print: 0 summary, 1 every packet, 2 structures, 3 hex dumps'
            cand --format 'Input format (default: detected from the content, then the extension)'
            cand --fps 'Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream''s VUI timing, else 25'
            cand --pid 'Only this PID (MPEG-TS; decimal or 0x hex)'
            cand --program 'The program to read from a multi-program MPEG-TS (its program_number); default: the first in the PAT'
            cand --validate 'Check the file against its spec; exit 1 if an error is found'
            cand --json 'Print JSON (shape documented in docs/analyse-json.md)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mist;analyze'= {
            cand -d 'How much to print: 0 summary, 1 every packet, 2 structures, 3 hex dumps'
            cand --detail 'How much to print: 0 summary, 1 every packet, 2 structures, 3 hex dumps'
            cand --format 'Input format (default: detected from the content, then the extension)'
            cand --fps 'Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream''s VUI timing, else 25'
            cand --pid 'Only this PID (MPEG-TS; decimal or 0x hex)'
            cand --program 'The program to read from a multi-program MPEG-TS (its program_number); default: the first in the PAT'
            cand --validate 'Check the file against its spec; exit 1 if an error is found'
            cand --json 'Print JSON (shape documented in docs/analyse-json.md)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mist;serve'= {
            cand --config 'Configuration file (JSON, MistServer''s shape); the API saves changes to it'
            cand --http 'HTTP listen address ("off" to disable)'
            cand --rtmp 'RTMP listen address ("off" to disable)'
            cand --api 'API listen address ("off" to disable)'
            cand --dtsc 'DTSC listen address, MistServer''s server-to-server protocol (MistServer uses 0.0.0.0:4200; "off" to disable)'
            cand --stream 'A stream: NAME=SOURCE (push://, push://HOST@PASSWORD, a file, a folder/, or a URL to pull: rtmp://, dtsc://, http(s)://, tsudp://, ts-exec:COMMAND)'
            cand --account 'Create (or replace) an API account: USER:PASSWORD. Other addresses than this machine''s must log in with it (MistServer''s challenge-response)'
            cand --api-token 'Accept API requests from anywhere that send "Authorization: Bearer TOKEN"'
            cand --access-log 'Log every HTTP request to FILE (Common Log Format, appended)'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mist;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'mist;help'= {
            cand convert 'Convert media from one container to another (packets are copied, never re-encoded)'
            cand remux 'Remux a file (same engine as convert), or package it into a folder (HLS, DASH, HDS, Smooth)'
            cand analyse 'Print what a file holds: tracks, codecs, timing, and with --detail every structure'
            cand serve 'Serve live and on-demand streams (RTMP, HLS, HTTP progressive, API)'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'mist;help;convert'= {
        }
        &'mist;help;remux'= {
        }
        &'mist;help;analyse'= {
        }
        &'mist;help;serve'= {
        }
        &'mist;help;completions'= {
        }
        &'mist;help;help'= {
        }
    ]
    $completions[$command]
}
