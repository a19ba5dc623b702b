complete -c pylon-candump-decode -l interface -d 'Read a SocketCAN interface (e.g. can0) instead of candump text; nothing is ever sent' -r
complete -c pylon-candump-decode -l start -d 'Time of the first frame of logs without an absolute clock (candump -t z, -t d, or no -t): RFC 3339 (2026-11-20T14:00:00Z; without a zone: local time) or Unix seconds [default: the file\'s modification time, counted back over the log]' -r
complete -c pylon-candump-decode -l every -d 'At most one reading per DUR, always the newest (e.g. 1m)' -r
complete -c pylon-candump-decode -l profile -d 'How the vendor reads the protocol' -r -f -a "auto\t'Pylon layout, 0x356 voltage scale (0.01 or 0.1 V) chosen to agree with 0x351\'s charge voltage limit'
pylon\t'Pylontech and compatibles (Pylon LV v1.2): 0x356 voltage in 0.01 V'
lux\t'EG4/Luxpower "Lux" protocol: as pylon, 0x359 byte 7 is the DIP address'
victron\t'Victron-style emitters such as diyBMS: 0x370/0x371 carry the BMS name'
pylon-dv\t'as pylon, but 0x356 voltage in 0.1 V (seen from at least one vendor)'"
complete -c pylon-candump-decode -l name -d 'Device id of the bank [default: manufacturer and interface or file stem, e.g. pylon-can0]' -r
complete -c pylon-candump-decode -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c pylon-candump-decode -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c pylon-candump-decode -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c pylon-candump-decode -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pylon-candump-decode -s V -l version -d 'Print version'
