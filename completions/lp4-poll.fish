complete -c lp4-poll -s a -l address -d 'Bus addresses of the packs on each port: 1,2,3 or 1-4 [default: 1; bms-poll: the protocol\'s]' -r
complete -c lp4-poll -s n -l count -d 'Poll N cycles, then exit' -r
complete -c lp4-poll -s i -l interval -d 'Time from the start of one cycle to the start of the next [default: 10s]' -r
complete -c lp4-poll -s t -l timeout -d 'How long to wait for a reply [default: 1s]' -r
complete -c lp4-poll -l gap -d 'Pause between two requests on the same bus' -r
complete -c lp4-poll -l name -d 'Device id of a pack (repeatable): ADDR=NAME, or NAME alone for each port/address pair in order' -r
complete -c lp4-poll -l capture -d 'Append every byte sent and received to FILE (decode it later with rtu-sniff)' -r -F
complete -c lp4-poll -s b -l baud -d 'Line speed in baud' -r
complete -c lp4-poll -l map -d 'Register map: v01-06 (EG4-LL V01.06, 39 registers) or eg4-battery (47 registers)' -r -f -a "v01-06\t'EG4-LL Modbus protocol V01.06, 39 registers'
eg4-battery\t'eg4-battery\'s 47-register reading, for comparison'"
complete -c lp4-poll -s c -l config -d 'Read the packs to poll from FILE (bmstap TOML, or eg4-battery\'s YAML)' -r -F
complete -c lp4-poll -l once -d 'Poll every pack once, then exit (0 = all answered, 1 = some did not)'
complete -c lp4-poll -l emit-errors -d 'Write a status record for each pack that did not answer'
complete -c lp4-poll -l scan -d 'Look for packs on the ports (addresses 1-16 and 0x40, at 9600/19200/115200 baud; once through a gateway, whose line speed is its own setting)'
complete -c lp4-poll -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c lp4-poll -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c lp4-poll -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c lp4-poll -s h -l help -d 'Print help (see more with \'--help\')'
complete -c lp4-poll -s V -l version -d 'Print version'
