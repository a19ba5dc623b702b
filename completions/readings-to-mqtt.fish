complete -c readings-to-mqtt -s H -l host -d 'Broker host name or address' -r
complete -c readings-to-mqtt -s p -l port -d 'Broker port [default: 1883, 8883 with --tls]' -r
complete -c readings-to-mqtt -s u -l username -d 'User name (the password comes from MQTT_PASSWORD or --password-file)' -r
complete -c readings-to-mqtt -l password-file -d 'Read the password from FILE (first line)' -r -F
complete -c readings-to-mqtt -l client-id -d 'MQTT client id [default: bmstap-<host name>]' -r
complete -c readings-to-mqtt -l keep-alive -d 'MQTT keep-alive' -r
complete -c readings-to-mqtt -l qos -d 'QoS of every publish (1: acknowledged by the broker)' -r
complete -c readings-to-mqtt -l ca-file -d 'CA certificate (PEM) to verify the broker with' -r -F
complete -c readings-to-mqtt -l cert -d 'Client certificate (PEM), with --key' -r -F
complete -c readings-to-mqtt -l key -d 'Client key (PEM), with --cert' -r -F
complete -c readings-to-mqtt -l topic-prefix -d 'First level of the state and availability topics' -r
complete -c readings-to-mqtt -l discovery-prefix -d 'Home Assistant\'s discovery prefix' -r
complete -c readings-to-mqtt -l expire-after -d 'Sensors go unavailable after DUR without a reading [default: 3x the observed interval, at least 60 s]' -r
complete -c readings-to-mqtt -l json-topic -d 'Also publish each reading as-is to TOPIC' -r
complete -c readings-to-mqtt -l array-every -d 'Instead, publish a JSON array of every device\'s newest reading to --json-topic every DUR' -r
complete -c readings-to-mqtt -l queue -d 'Readings held for the JSON topic while the broker is away or slow (at most 64 MiB); past that, while away, the oldest are dropped and the exit status is 1' -r
complete -c readings-to-mqtt -l remove -d 'Clear every retained topic of DEVICE (discovery, state, availability) and exit; stdin is not read' -r
complete -c readings-to-mqtt -l min-interval -d 'Publish a device\'s state at most once per DUR (always the newest)' -r
complete -c readings-to-mqtt -l connect-timeout -d 'Give up (exit 75) if the broker cannot be reached for this long at the start' -r
complete -c readings-to-mqtt -l tls -d 'Connect with TLS'
complete -c readings-to-mqtt -l no-discovery -d 'Do not publish Home Assistant discovery'
complete -c readings-to-mqtt -l print-discovery -d 'Print what would be published (topic, retain, payload) as NDJSON; no broker'
complete -c readings-to-mqtt -l stats -d 'At exit, one line on stderr: records read, readings published on the JSON topic, states published and superseded, readings dropped, bad lines, messages refused (-v says it in words)'
complete -c readings-to-mqtt -l tee -d 'Copy every input record to stdout as well'
complete -c readings-to-mqtt -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c readings-to-mqtt -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c readings-to-mqtt -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c readings-to-mqtt -s h -l help -d 'Print help'
complete -c readings-to-mqtt -s V -l version -d 'Print version'
