complete -c rtu-sniff -s I -l input -d 'Read a saved byte capture instead of a port (\'-\' for standard input)' -r -F
complete -c rtu-sniff -s b -l baud -d 'Line speed (9600: EG4 inverter bus; 19200: the packs\' Comm bus)' -r
complete -c rtu-sniff -l save -d 'Append every byte received to FILE (replay it with --input)' -r -F
complete -c rtu-sniff -l decode -d 'Decode paired responses into readings: lp4 (EG4 LifePower4 registers)' -r -f -a "lp4\t''"
complete -c rtu-sniff -l map -d 'Register map for --decode lp4' -r -f -a "v01-06\t'EG4-LL Modbus protocol V01.06, 39 registers'
eg4-battery\t'eg4-battery\'s 47-register reading, for comparison'"
complete -c rtu-sniff -l name -d 'Device id for a bus address (repeatable), e.g. 1=rack-top' -r
complete -c rtu-sniff -s a -l address -d 'Only frames from/to these addresses: 1,2 or 1-4' -r
complete -c rtu-sniff -s f -l function -d 'Only these function codes: 3,4 (exceptions count as their function)' -r
complete -c rtu-sniff -l reply-timeout -d 'A request is unanswered after this long (live only)' -r
complete -c rtu-sniff -l stats-interval -d 'Write the counters as a status record every DUR (live), as well as at the end' -r
complete -c rtu-sniff -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c rtu-sniff -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c rtu-sniff -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c rtu-sniff -s h -l help -d 'Print help (see more with \'--help\')'
complete -c rtu-sniff -s V -l version -d 'Print version'
