complete -c readings-to-influx -l measurement -d 'Measurement name of every line' -r
complete -c readings-to-influx -l precision -d 'Timestamp precision of the lines' -r -f -a "s\t'seconds'
ms\t'milliseconds'
us\t'microseconds'
ns\t'nanoseconds'"
complete -c readings-to-influx -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c readings-to-influx -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c readings-to-influx -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c readings-to-influx -s h -l help -d 'Print help (see more with \'--help\')'
complete -c readings-to-influx -s V -l version -d 'Print version'
