complete -c eg4-7e-query -s a -l address -d 'Bus addresses of the packs on each port: 1,2,3 or 1-4 [default: 1; bms-poll: the protocol\'s]' -r
complete -c eg4-7e-query -s n -l count -d 'Poll N cycles, then exit' -r
complete -c eg4-7e-query -s i -l interval -d 'Time from the start of one cycle to the start of the next [default: 10s]' -r
complete -c eg4-7e-query -s t -l timeout -d 'How long to wait for a reply [default: 1s]' -r
complete -c eg4-7e-query -l gap -d 'Pause between two requests on the same bus' -r
complete -c eg4-7e-query -l name -d 'Device id of a pack (repeatable): ADDR=NAME, or NAME alone for each port/address pair in order' -r
complete -c eg4-7e-query -l capture -d 'Append every byte sent and received to FILE (decode it later with rtu-sniff)' -r -F
complete -c eg4-7e-query -s b -l baud -d 'Line speed in baud' -r
complete -c eg4-7e-query -l once -d 'Poll every pack once, then exit (0 = all answered, 1 = some did not)'
complete -c eg4-7e-query -l emit-errors -d 'Write a status record for each pack that did not answer'
complete -c eg4-7e-query -l info -d 'Also read each pack\'s firmware (0x33) and hardware (0x42) strings once per connection (whichever the pack answers; many answer 0x33 only)'
complete -c eg4-7e-query -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c eg4-7e-query -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c eg4-7e-query -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c eg4-7e-query -s h -l help -d 'Print help'
complete -c eg4-7e-query -s V -l version -d 'Print version'
