# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mist_global_optspecs
    string join \n h/help V/version
end

function __fish_mist_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mist_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mist_using_subcommand
    set -l cmd (__fish_mist_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mist -n "__fish_mist_needs_command" -s h -l help -d 'Print help'
complete -c mist -n "__fish_mist_needs_command" -s V -l version -d 'Print version'
complete -c mist -n "__fish_mist_needs_command" -f -a "convert" -d 'Convert media from one container to another (packets are copied, never re-encoded)'
complete -c mist -n "__fish_mist_needs_command" -f -a "remux" -d 'Remux a file (same engine as convert), or package it into a folder (HLS, DASH, HDS, Smooth)'
complete -c mist -n "__fish_mist_needs_command" -f -a "analyse" -d 'Print what a file holds: tracks, codecs, timing, and with --detail every structure'
complete -c mist -n "__fish_mist_needs_command" -f -a "analyze" -d 'Print what a file holds: tracks, codecs, timing, and with --detail every structure'
complete -c mist -n "__fish_mist_needs_command" -f -a "serve" -d 'Serve live and on-demand streams (RTMP, HLS, HTTP progressive, API)'
complete -c mist -n "__fish_mist_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c mist -n "__fish_mist_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mist -n "__fish_mist_using_subcommand convert" -l to -d 'Output format (default: from the output\'s extension); `hls` (TS segments), `hls-fmp4` (CMAF segments), `dash` (an MPD over CMAF segments), `hds` and `smooth` write a folder of playlists or manifests and segments' -r -f -a "dtsc\t''
flv\t''
ts\t''
mp4\t''
fmp4\t''
mp3\t''
h264\t''
aac\t''
hls\t''
hls-fmp4\t''
dash\t''
hds\t''
smooth\t''"
complete -c mist -n "__fish_mist_using_subcommand convert" -l from -d 'Input format (default: detected from the content, then the extension)' -r -f -a "dtsc\t''
flv\t''
ts\t''
mp4\t''
fmp4\t''
mp3\t''
h264\t''
aac\t''"
complete -c mist -n "__fish_mist_using_subcommand convert" -l tracks -d 'Tracks to keep: ids, video, audio, meta, a codec name, all; `-x` removes (all,-meta). Default: every track the output format can carry' -r
complete -c mist -n "__fish_mist_using_subcommand convert" -l start -d 'Start at the keyframe at or before this time (seconds from the start of the input, or [h:]m:s)' -r
complete -c mist -n "__fish_mist_using_subcommand convert" -l end -d 'Stop before this time (seconds from the start of the input, or [h:]m:s)' -r
complete -c mist -n "__fish_mist_using_subcommand convert" -l fps -d 'Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream\'s VUI timing, else 25' -r
complete -c mist -n "__fish_mist_using_subcommand convert" -l program -d 'The program to read from a multi-program MPEG-TS (its program_number); default: the first in the PAT' -r
complete -c mist -n "__fish_mist_using_subcommand convert" -l fragment-duration -d 'Fragmented MP4: cut fragments of about this many milliseconds (at keyframes), instead of one per keyframe group' -r
complete -c mist -n "__fish_mist_using_subcommand convert" -l segment-duration -d 'Packaging (`--to hls|hls-fmp4|dash|hds|smooth`): shortest segment in seconds; segments start at the first keyframe at least this long after the previous start (default 1.9, MistServer\'s)' -r
complete -c mist -n "__fish_mist_using_subcommand convert" -s f -l force -d 'Overwrite the output if it exists'
complete -c mist -n "__fish_mist_using_subcommand convert" -s q -l quiet -d 'No progress bar'
complete -c mist -n "__fish_mist_using_subcommand convert" -l strip-tags -d 'Leave the source\'s tags (an MP3\'s ID3v2 tag) out of the output'
complete -c mist -n "__fish_mist_using_subcommand convert" -l sidx -d 'Fragmented MP4: write a segment index (`sidx`) before each fragment'
complete -c mist -n "__fish_mist_using_subcommand convert" -l salvage -d 'Write what is readable of a damaged input (an interrupted recording, a corrupt region), with one warning per damaged region, instead of refusing it'
complete -c mist -n "__fish_mist_using_subcommand convert" -s h -l help -d 'Print help'
complete -c mist -n "__fish_mist_using_subcommand remux" -l to -d 'Output format (default: from the output\'s extension); `hls` (TS segments), `hls-fmp4` (CMAF segments), `dash` (an MPD over CMAF segments), `hds` and `smooth` write a folder of playlists or manifests and segments' -r -f -a "dtsc\t''
flv\t''
ts\t''
mp4\t''
fmp4\t''
mp3\t''
h264\t''
aac\t''
hls\t''
hls-fmp4\t''
dash\t''
hds\t''
smooth\t''"
complete -c mist -n "__fish_mist_using_subcommand remux" -l from -d 'Input format (default: detected from the content, then the extension)' -r -f -a "dtsc\t''
flv\t''
ts\t''
mp4\t''
fmp4\t''
mp3\t''
h264\t''
aac\t''"
complete -c mist -n "__fish_mist_using_subcommand remux" -l tracks -d 'Tracks to keep: ids, video, audio, meta, a codec name, all; `-x` removes (all,-meta). Default: every track the output format can carry' -r
complete -c mist -n "__fish_mist_using_subcommand remux" -l start -d 'Start at the keyframe at or before this time (seconds from the start of the input, or [h:]m:s)' -r
complete -c mist -n "__fish_mist_using_subcommand remux" -l end -d 'Stop before this time (seconds from the start of the input, or [h:]m:s)' -r
complete -c mist -n "__fish_mist_using_subcommand remux" -l fps -d 'Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream\'s VUI timing, else 25' -r
complete -c mist -n "__fish_mist_using_subcommand remux" -l program -d 'The program to read from a multi-program MPEG-TS (its program_number); default: the first in the PAT' -r
complete -c mist -n "__fish_mist_using_subcommand remux" -l fragment-duration -d 'Fragmented MP4: cut fragments of about this many milliseconds (at keyframes), instead of one per keyframe group' -r
complete -c mist -n "__fish_mist_using_subcommand remux" -l segment-duration -d 'Packaging (`--to hls|hls-fmp4|dash|hds|smooth`): shortest segment in seconds; segments start at the first keyframe at least this long after the previous start (default 1.9, MistServer\'s)' -r
complete -c mist -n "__fish_mist_using_subcommand remux" -s f -l force -d 'Overwrite the output if it exists'
complete -c mist -n "__fish_mist_using_subcommand remux" -s q -l quiet -d 'No progress bar'
complete -c mist -n "__fish_mist_using_subcommand remux" -l strip-tags -d 'Leave the source\'s tags (an MP3\'s ID3v2 tag) out of the output'
complete -c mist -n "__fish_mist_using_subcommand remux" -l sidx -d 'Fragmented MP4: write a segment index (`sidx`) before each fragment'
complete -c mist -n "__fish_mist_using_subcommand remux" -l salvage -d 'Write what is readable of a damaged input (an interrupted recording, a corrupt region), with one warning per damaged region, instead of refusing it'
complete -c mist -n "__fish_mist_using_subcommand remux" -s h -l help -d 'Print help'
complete -c mist -n "__fish_mist_using_subcommand analyse" -s d -l detail -d 'How much to print: 0 summary, 1 every packet, 2 structures, 3 hex dumps' -r
complete -c mist -n "__fish_mist_using_subcommand analyse" -l format -d 'Input format (default: detected from the content, then the extension)' -r -f -a "dtsc\t''
flv\t''
ts\t''
mp4\t''
fmp4\t''
mp3\t''
h264\t''
aac\t''"
complete -c mist -n "__fish_mist_using_subcommand analyse" -l fps -d 'Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream\'s VUI timing, else 25' -r
complete -c mist -n "__fish_mist_using_subcommand analyse" -l pid -d 'Only this PID (MPEG-TS; decimal or 0x hex)' -r
complete -c mist -n "__fish_mist_using_subcommand analyse" -l program -d 'The program to read from a multi-program MPEG-TS (its program_number); default: the first in the PAT' -r
complete -c mist -n "__fish_mist_using_subcommand analyse" -l validate -d 'Check the file against its spec; exit 1 if an error is found'
complete -c mist -n "__fish_mist_using_subcommand analyse" -l json -d 'Print JSON (shape documented in docs/analyse-json.md)'
complete -c mist -n "__fish_mist_using_subcommand analyse" -s h -l help -d 'Print help'
complete -c mist -n "__fish_mist_using_subcommand analyze" -s d -l detail -d 'How much to print: 0 summary, 1 every packet, 2 structures, 3 hex dumps' -r
complete -c mist -n "__fish_mist_using_subcommand analyze" -l format -d 'Input format (default: detected from the content, then the extension)' -r -f -a "dtsc\t''
flv\t''
ts\t''
mp4\t''
fmp4\t''
mp3\t''
h264\t''
aac\t''"
complete -c mist -n "__fish_mist_using_subcommand analyze" -l fps -d 'Frame rate of a raw H.264 input (25, 29.97, 30000/1001); default: the stream\'s VUI timing, else 25' -r
complete -c mist -n "__fish_mist_using_subcommand analyze" -l pid -d 'Only this PID (MPEG-TS; decimal or 0x hex)' -r
complete -c mist -n "__fish_mist_using_subcommand analyze" -l program -d 'The program to read from a multi-program MPEG-TS (its program_number); default: the first in the PAT' -r
complete -c mist -n "__fish_mist_using_subcommand analyze" -l validate -d 'Check the file against its spec; exit 1 if an error is found'
complete -c mist -n "__fish_mist_using_subcommand analyze" -l json -d 'Print JSON (shape documented in docs/analyse-json.md)'
complete -c mist -n "__fish_mist_using_subcommand analyze" -s h -l help -d 'Print help'
complete -c mist -n "__fish_mist_using_subcommand serve" -l config -d 'Configuration file (JSON, MistServer\'s shape); the API saves changes to it' -r -F
complete -c mist -n "__fish_mist_using_subcommand serve" -l http -d 'HTTP listen address ("off" to disable)' -r
complete -c mist -n "__fish_mist_using_subcommand serve" -l rtmp -d 'RTMP listen address ("off" to disable)' -r
complete -c mist -n "__fish_mist_using_subcommand serve" -l api -d 'API listen address ("off" to disable)' -r
complete -c mist -n "__fish_mist_using_subcommand serve" -l dtsc -d 'DTSC listen address, MistServer\'s server-to-server protocol (MistServer uses 0.0.0.0:4200; "off" to disable)' -r
complete -c mist -n "__fish_mist_using_subcommand serve" -l stream -d 'A stream: NAME=SOURCE (push://, push://HOST@PASSWORD, a file, a folder/, or a URL to pull: rtmp://, dtsc://, http(s)://, tsudp://, ts-exec:COMMAND)' -r
complete -c mist -n "__fish_mist_using_subcommand serve" -l account -d 'Create (or replace) an API account: USER:PASSWORD. Other addresses than this machine\'s must log in with it (MistServer\'s challenge-response)' -r
complete -c mist -n "__fish_mist_using_subcommand serve" -l api-token -d 'Accept API requests from anywhere that send "Authorization: Bearer TOKEN"' -r
complete -c mist -n "__fish_mist_using_subcommand serve" -l access-log -d 'Log every HTTP request to FILE (Common Log Format, appended)' -r -F
complete -c mist -n "__fish_mist_using_subcommand serve" -s h -l help -d 'Print help'
complete -c mist -n "__fish_mist_using_subcommand completions" -s h -l help -d 'Print help'
complete -c mist -n "__fish_mist_using_subcommand help; and not __fish_seen_subcommand_from convert remux analyse serve completions help" -f -a "convert" -d 'Convert media from one container to another (packets are copied, never re-encoded)'
complete -c mist -n "__fish_mist_using_subcommand help; and not __fish_seen_subcommand_from convert remux analyse serve completions help" -f -a "remux" -d 'Remux a file (same engine as convert), or package it into a folder (HLS, DASH, HDS, Smooth)'
complete -c mist -n "__fish_mist_using_subcommand help; and not __fish_seen_subcommand_from convert remux analyse serve completions help" -f -a "analyse" -d 'Print what a file holds: tracks, codecs, timing, and with --detail every structure'
complete -c mist -n "__fish_mist_using_subcommand help; and not __fish_seen_subcommand_from convert remux analyse serve completions help" -f -a "serve" -d 'Serve live and on-demand streams (RTMP, HLS, HTTP progressive, API)'
complete -c mist -n "__fish_mist_using_subcommand help; and not __fish_seen_subcommand_from convert remux analyse serve completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c mist -n "__fish_mist_using_subcommand help; and not __fish_seen_subcommand_from convert remux analyse serve completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
