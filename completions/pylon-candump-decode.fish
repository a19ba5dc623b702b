complete -c pylon-candump-decode -l interface -d 'Read a SocketCAN interface (e.g. can0) instead of candump text; nothing is ever sent' -r
complete -c pylon-candump-decode -l start -d 'Time of the first frame of logs without an absolute clock (candump -t z, -t d, or no -t): RFC 3339 (2026-11-20T14:00:00Z; without a zone: local time) or Unix seconds [default: the file\'s modification time, counted back over the log]' -r
complete -c pylon-candump-decode -l every -d 'At most one reading per DUR, always the newest (e.g. 1m)' -r
complete -c pylon-candump-decode -l profile -d 'How the vendor reads the protocol: auto (the 0x356 voltage scale that agrees with 0x351), pylon, lux (0x359 byte 7 = DIP address), victron (0x370/0x371 = BMS name), pylon-dv (0x356 voltage in 0.1 V)' -r
complete -c pylon-candump-decode -l name -d 'Device id of the bank [default: manufacturer and interface or file stem, e.g. pylon-can0]' -r
complete -c pylon-candump-decode -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c pylon-candump-decode -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c pylon-candump-decode -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c pylon-candump-decode -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pylon-candump-decode -s V -l version -d 'Print version'
