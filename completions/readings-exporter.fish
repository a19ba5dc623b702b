complete -c readings-exporter -s l -l listen -d 'Address to serve /metrics on' -r
complete -c readings-exporter -l textfile -d 'Instead, write the metrics to FILE (atomically, at most once a second) for node_exporter\'s textfile collector' -r -F
complete -c readings-exporter -l stale -d 'Drop a device\'s series (and forget it) after DUR without a reading' -r
complete -c readings-exporter -l max-devices -d 'Devices held at most; readings of more are ignored (counted, exit 1) until some go stale' -r
complete -c readings-exporter -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c readings-exporter -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c readings-exporter -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c readings-exporter -s h -l help -d 'Print help'
complete -c readings-exporter -s V -l version -d 'Print version'
