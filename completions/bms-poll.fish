complete -c bms-poll -s p -l protocol -d 'The BMS family: jbd, daly, pylontech, seplos, pace, eg4-7e, jk, jk-pb, lp4, seplos3, or auto (detect, then poll)' -r
complete -c bms-poll -l detect-cache -d 'Remember what each port held in FILE and try that first next time (--detect, auto)' -r -F
complete -c bms-poll -l listen -d 'Listen this long for traffic before probing a port (a bus with another master is not probed)' -r
complete -c bms-poll -s b -l baud -d 'Line speed [default: the protocol\'s: 9600]' -r
complete -c bms-poll -s a -l address -d 'Bus addresses of the packs on each port: 1,2,3 or 1-4 [default: 1; bms-poll: the protocol\'s]' -r
complete -c bms-poll -s n -l count -d 'Poll N cycles, then exit' -r
complete -c bms-poll -s i -l interval -d 'Time from the start of one cycle to the start of the next [default: 10s]' -r
complete -c bms-poll -s t -l timeout -d 'How long to wait for a reply [default: 1s]' -r
complete -c bms-poll -l gap -d 'Pause between two requests on the same bus' -r
complete -c bms-poll -l name -d 'Device id of a pack (repeatable): ADDR=NAME, or NAME alone for each port/address pair in order' -r
complete -c bms-poll -l capture -d 'Append every byte sent and received to FILE (decode it later with rtu-sniff)' -r -F
complete -c bms-poll -l daly-host -d 'Daly: the host address requests come from: 0x40 on the RS-485 port, 0x80 on the UART/Bluetooth port' -r
complete -c bms-poll -l config -d 'Packs from a TOML file ([[pack]] port, address, name, protocol, baud)' -r -F
complete -c bms-poll -l detect -d 'Find what is on each port and print a "detected" record per device, then exit'
complete -c bms-poll -l once -d 'Poll every pack once, then exit (0 = all answered, 1 = some did not)'
complete -c bms-poll -l emit-errors -d 'Write a status record for each pack that did not answer'
complete -c bms-poll -l invert-current -d 'Flip the sign of the current (firmware known to report it inverted)'
complete -c bms-poll -l jk-trigger -d 'JK-PB: allow the three trigger frames (FC16 writes into the command page) when no bus master is heard for a few seconds; by default jk-pb only listens'
complete -c bms-poll -l jk-modbus-read -d 'JK-PB: ask with plain FC03 reads of 0x1200/0x1400 when no bus master is heard (unreliable: packs stop answering FC03 on a bus without triggers)'
complete -c bms-poll -l pylontech-group -d 'Pylontech: read every module of a group with one request to its master (0x42 INFO FF) instead of three per pack; alarms (0x44) and limits (0x92) are then not read'
complete -c bms-poll -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-poll -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-poll -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-poll -s h -l help -d 'Print help'
complete -c bms-poll -s V -l version -d 'Print version'
