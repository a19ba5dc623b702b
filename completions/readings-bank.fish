complete -c readings-bank -l state -d 'Keep the counters in FILE across restarts (without it they start at zero)' -r -F
complete -c readings-bank -l save-every -d 'Save the state file at most once per DUR (and always at exit)' -r
complete -c readings-bank -l max-gap -d 'Do not integrate across a gap between two readings of a device longer than DUR' -r
complete -c readings-bank -l name -d 'Device id of the bank reading (every device in the stream belongs to it)' -r
complete -c readings-bank -l bank -d 'A bank of its own for these devices (repeatable): NAME=DEV,DEV,...' -r
complete -c readings-bank -l every -d 'One bank reading per DUR of the readings\' time, instead of one per polling cycle' -r
complete -c readings-bank -l stale -d 'A pack is offline after DUR without a reading [default: three of its intervals]' -r
complete -c readings-bank -l no-bank -d 'Only add the per-device fields; write no bank readings'
complete -c readings-bank -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c readings-bank -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c readings-bank -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c readings-bank -s h -l help -d 'Print help'
complete -c readings-bank -s V -l version -d 'Print version'
