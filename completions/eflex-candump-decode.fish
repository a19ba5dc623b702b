complete -c eflex-candump-decode -l interface -d 'Read a SocketCAN interface (e.g. can0) instead of candump text; nothing is ever sent' -r
complete -c eflex-candump-decode -l start -d 'Time of the first frame of logs without an absolute clock (candump -t z, -t d, or no -t): RFC 3339 (2026-11-20T14:00:00Z; without a zone: local time) or Unix seconds [default: the file\'s modification time, counted back over the log]' -r
complete -c eflex-candump-decode -l every -d 'At most one reading per battery per DUR, always the newest (e.g. 2m)' -r
complete -c eflex-candump-decode -l raw -d 'Also put both reassembled blocks (77 and 49 bytes) in raw, as hex'
complete -c eflex-candump-decode -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c eflex-candump-decode -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c eflex-candump-decode -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c eflex-candump-decode -s h -l help -d 'Print help (see more with \'--help\')'
complete -c eflex-candump-decode -s V -l version -d 'Print version'
