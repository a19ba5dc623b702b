complete -c readings-to-influx -l measurement -d 'Measurement name of every line' -r
complete -c readings-to-influx -l precision -d 'Timestamp precision of the lines' -r -f -a "s\t'seconds'
ms\t'milliseconds'
us\t'microseconds'
ns\t'nanoseconds'"
complete -c readings-to-influx -l url -d 'Write to the InfluxDB at URL (http[s]://HOST:PORT) instead of stdout' -r
complete -c readings-to-influx -l ca-file -d 'CA certificates (PEM) to verify an https server with [default: the system\'s]' -r -F
complete -c readings-to-influx -l db -d 'InfluxDB 1.x database: POST /write?db=NAME' -r
complete -c readings-to-influx -l rp -d 'InfluxDB 1.x retention policy (with --db)' -r
complete -c readings-to-influx -l bucket -d 'InfluxDB 2.x/3.x bucket (or database): POST /api/v2/write?bucket=NAME' -r
complete -c readings-to-influx -l org -d 'InfluxDB 2.x organisation (with --bucket)' -r
complete -c readings-to-influx -l token-file -d 'Read the API token from FILE (first line) [default: $INFLUX_TOKEN]' -r -F
complete -c readings-to-influx -l batch-size -d 'Lines per request at most' -r
complete -c readings-to-influx -l flush-interval -d 'Send a batch at the latest this long after its first line' -r
complete -c readings-to-influx -l buffer -d 'Lines kept while the server is away (and at most 64 MiB); beyond, the oldest are dropped' -r
complete -c readings-to-influx -l timeout -d 'Deadline of a request: connecting, sending it and the whole answer' -r
complete -c readings-to-influx -l connect-timeout -d 'Give up (exit 75) if nothing could be written for this long at the start' -r
complete -c readings-to-influx -l drain-timeout -d 'At end of input or on SIGTERM, keep writing for this long, then drop what is left (exit 1)' -r
complete -c readings-to-influx -l no-gzip -d 'Send the request bodies uncompressed'
complete -c readings-to-influx -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c readings-to-influx -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c readings-to-influx -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c readings-to-influx -s h -l help -d 'Print help (see more with \'--help\')'
complete -c readings-to-influx -s V -l version -d 'Print version'
