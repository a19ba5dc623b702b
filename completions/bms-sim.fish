# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_bms_sim_global_optspecs
    string join \n v/verbose q/quiet trace h/help V/version
end

function __fish_bms_sim_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_bms_sim_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_bms_sim_using_subcommand
    set -l cmd (__fish_bms_sim_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c bms-sim -n "__fish_bms_sim_needs_command" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -s V -l version -d 'Print version'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "lp4" -d 'EG4 LifePower4 v2 packs answering Modbus RTU on a pseudo-terminal'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "eg4-7e" -d 'First-generation EG4 LifePower packs answering the 7E/0D protocol on a pseudo-terminal'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "replay" -d 'Replay a saved byte capture into a pseudo-terminal, as if it were a live bus'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "rtu-capture" -d 'Write a synthetic Modbus RTU capture (LP4 polls and replies with line noise) to stdout'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "eflex" -d 'Fortress eFlex batteries as a candump -L stream on stdout'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "pylon" -d 'A battery bank and its inverter on the Pylon LV CAN link, as a candump -L stream'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "jbd" -d 'JBD / Jiabaida / Xiaoxiang / Overkill Solar BMS (DD ... 77 frames, UART or RS-485), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "daly" -d 'Daly BMS, classic 13-byte A5 frames (RS-485 or UART port), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "pylontech" -d 'Pylontech US2000/US3000/US5000/UP2500 on the RS-485/console port (ASCII ~...CR frames), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "seplos" -d 'Seplos v2 BMS boards (DIY 16S kits) on the RS-485/RS-232 port (ASCII ~...CR frames), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "pace" -d 'PACE v25 BMS boards (SOK, Gobel, Jakiper, BSL, ...) on the RS-485/RS-232 port (ASCII ~...CR frames, VER 0x25), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "jk" -d 'JK-B / JK-BD BMS (4E 57 frames, UART-TTL GPS port or RS-485 adapter), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "seplos3" -d 'Seplos v3 BMS boards over Modbus RTU (RS-485), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "jk-pb" -d 'JK-PB inverter BMS packs on one RS-485 bus: a bus master (DIP address 0) polling its slaves, or (--slaves) slaves answering trigger frames'
complete -c bms-sim -n "__fish_bms_sim_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -s a -l address -d 'Bus addresses of the simulated packs: 1,2,3 or 1-4' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l silent -d 'Address that never answers (repeatable)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l bad-crc-every -d 'Damage the checksum of every Nth reply' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l fault -d 'Set an alarm bit: NAME or ADDR:NAME, e.g. cell_ov, 2:protection_short_circuit' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l wire-baud -d 'Pace replies like a real line at this baud rate (default: as fast as possible)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l link -d 'Also make PATH a symlink to the pseudo-terminal (replacing only an earlier one into /dev/pts; removed at exit)' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l serial-tag -d 'Serial numbers are SIM-<TAG>-<ADDR> (default TAG: the pseudo-terminal\'s number)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l same-serial -d 'Every pack reports this one serial number, as LifePower4 packs built on the same day do (their serial field holds the build date)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l late-every -d 'Send every Nth reply late, after --late-by (the poller has given up on it by then)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l late-by -d 'How late --late-every replies are' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l twice-every -d 'Send every Nth reply twice' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l garbage-every -d 'Follow every Nth reply with garbage bytes (start bytes of both protocols among them)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l foreign-every -d 'Send every Nth reply with the next address in its header instead (a valid frame from the wrong pack)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l tcp -d 'Serve the packs on ADDR:PORT like a transparent RS-485-to-Ethernet gateway, one client at a time, instead of on a pseudo-terminal (port 0: any free port; the first stdout line is then tcp://ADDR:PORT)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l modbus-tcp -d 'Serve the packs on ADDR:PORT like a gateway in Modbus TCP mode (MBAP, unit id = pack address; exception 0x0B for a pack that does not answer or answers with a bad CRC), one client at a time' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand lp4" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -s a -l address -d 'Bus addresses of the simulated packs: 1,2,3 or 1-4' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l silent -d 'Address that never answers (repeatable)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l bad-crc-every -d 'Damage the checksum of every Nth reply' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l fault -d 'Set an alarm bit: NAME or ADDR:NAME, e.g. cell_ov, 2:protection_short_circuit' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l wire-baud -d 'Pace replies like a real line at this baud rate (default: as fast as possible)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l link -d 'Also make PATH a symlink to the pseudo-terminal (replacing only an earlier one into /dev/pts; removed at exit)' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l serial-tag -d 'Serial numbers are SIM-<TAG>-<ADDR> (default TAG: the pseudo-terminal\'s number)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l same-serial -d 'Every pack reports this one serial number, as LifePower4 packs built on the same day do (their serial field holds the build date)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l late-every -d 'Send every Nth reply late, after --late-by (the poller has given up on it by then)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l late-by -d 'How late --late-every replies are' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l twice-every -d 'Send every Nth reply twice' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l garbage-every -d 'Follow every Nth reply with garbage bytes (start bytes of both protocols among them)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l foreign-every -d 'Send every Nth reply with the next address in its header instead (a valid frame from the wrong pack)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l tcp -d 'Serve the packs on ADDR:PORT like a transparent RS-485-to-Ethernet gateway, one client at a time, instead of on a pseudo-terminal (port 0: any free port; the first stdout line is then tcp://ADDR:PORT)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l cells -d 'Cells per pack' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eg4-7e" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand replay" -l wire-baud -d 'Pace the bytes like a line at this baud rate (default: as fast as possible)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand replay" -l link -d 'Also make PATH a symlink to the pseudo-terminal (replacing only an earlier one into /dev/pts; removed at exit)' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand replay" -l now -d 'Start writing at once instead of waiting for a line on standard input'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand replay" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand replay" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand replay" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand replay" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand rtu-capture" -l bytes -d 'Stop after about this many bytes' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand rtu-capture" -l noise -d 'Fraction of noise bytes between frames' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand rtu-capture" -l seed -d 'Seed of the generator' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand rtu-capture" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand rtu-capture" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand rtu-capture" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand rtu-capture" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eflex" -s n -l batteries -d 'Number of batteries on the bus (nodes 1..N)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eflex" -l cycles -d 'Stop after N rounds (every battery once per round); default: never' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eflex" -l rate -d 'Pace like a real bus: ROUNDS per second (default 1), frames 0.5 ms apart' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eflex" -l truth -d 'Write the readings the decoder must produce (ground truth) to FILE as NDJSON' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eflex" -l iface -d 'Interface name in the log lines' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eflex" -l start -d 'First timestamp (Unix seconds) when not paced' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eflex" -l seed -d 'Seed of the value generator' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eflex" -l interleave -d 'Interleave the batteries\' frames instead of sending battery after battery'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eflex" -l no-partial -d 'No partial groups at the start and end'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eflex" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eflex" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eflex" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand eflex" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -l cycles -d 'Stop after N telegrams; default: never' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -l rate -d 'Pace like a real bus: TELEGRAMS per second (default 1)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -l modules -d 'Modules in the bank (0x359 byte 4)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -l fault -d 'Raise an alarm or request (repeatable): a protection_*/warning_* field name, the part after protection_ (pack_ov), or request_force_charge_1/2, request_full_charge' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -l manufacturer -d 'Manufacturer string in 0x35E (at most 8 ASCII characters)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -l truth -d 'Write the readings the decoder must produce (ground truth) to FILE as NDJSON' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -l iface -d 'Interface name in the log lines' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -l start -d 'First timestamp (Unix seconds) when not paced' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -l seed -d 'Seed of the value generator' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -l victron -d 'Also send the newer-firmware/Victron frames'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -l no-heartbeat -d 'No inverter heartbeats (a log of the battery side only)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylon" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -s a -l address -d 'Bus addresses of the simulated packs: 1,2,3 or 1-4' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l silent -d 'Address that never answers (repeatable)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l bad-crc-every -d 'Damage the checksum of every Nth reply' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l fault -d 'Set an alarm bit: NAME or ADDR:NAME, e.g. cell_ov, 2:protection_short_circuit' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l wire-baud -d 'Pace replies like a real line at this baud rate (default: as fast as possible)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l link -d 'Also make PATH a symlink to the pseudo-terminal (replacing only an earlier one into /dev/pts; removed at exit)' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l serial-tag -d 'Serial numbers are SIM-<TAG>-<ADDR> (default TAG: the pseudo-terminal\'s number)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l same-serial -d 'Every pack reports this one serial number, as LifePower4 packs built on the same day do (their serial field holds the build date)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l late-every -d 'Send every Nth reply late, after --late-by (the poller has given up on it by then)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l late-by -d 'How late --late-every replies are' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l twice-every -d 'Send every Nth reply twice' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l garbage-every -d 'Follow every Nth reply with garbage bytes (start bytes of both protocols among them)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l foreign-every -d 'Send every Nth reply with the next address in its header instead (a valid frame from the wrong pack)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l tcp -d 'Serve the packs on ADDR:PORT like a transparent RS-485-to-Ethernet gateway, one client at a time, instead of on a pseudo-terminal (port 0: any free port; the first stdout line is then tcp://ADDR:PORT)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l cells -d 'Cells per pack (1-16)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l asleep -d 'Packs that are asleep: a Daly echoes every request and answers nothing' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l write-log -d 'Append every frame received that is not an allowed read (a write) to FILE, as hex' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l host -d 'Daly: answer only requests from this host address, as one port does (0x40 RS-485, 0x80 UART); default: both' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l modbus-tcp -d 'Modbus families (seplos3): serve the packs on ADDR:PORT like a gateway in Modbus TCP mode (MBAP, unit id = pack address), one client at a time' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l all-frames -d 'Send every frame of a multi-frame answer, as over Bluetooth (Daly), not only those with data'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jbd" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l silent -d 'Address that never answers (repeatable)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l bad-crc-every -d 'Damage the checksum of every Nth reply' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l fault -d 'Set an alarm bit: NAME or ADDR:NAME, e.g. cell_ov, 2:protection_short_circuit' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l wire-baud -d 'Pace replies like a real line at this baud rate (default: as fast as possible)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l link -d 'Also make PATH a symlink to the pseudo-terminal (replacing only an earlier one into /dev/pts; removed at exit)' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l serial-tag -d 'Serial numbers are SIM-<TAG>-<ADDR> (default TAG: the pseudo-terminal\'s number)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l same-serial -d 'Every pack reports this one serial number, as LifePower4 packs built on the same day do (their serial field holds the build date)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l late-every -d 'Send every Nth reply late, after --late-by (the poller has given up on it by then)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l late-by -d 'How late --late-every replies are' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l twice-every -d 'Send every Nth reply twice' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l garbage-every -d 'Follow every Nth reply with garbage bytes (start bytes of both protocols among them)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l foreign-every -d 'Send every Nth reply with the next address in its header instead (a valid frame from the wrong pack)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l tcp -d 'Serve the packs on ADDR:PORT like a transparent RS-485-to-Ethernet gateway, one client at a time, instead of on a pseudo-terminal (port 0: any free port; the first stdout line is then tcp://ADDR:PORT)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l cells -d 'Cells per pack (1-16)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l asleep -d 'Packs that are asleep: a Daly echoes every request and answers nothing' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l write-log -d 'Append every frame received that is not an allowed read (a write) to FILE, as hex' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l host -d 'Daly: answer only requests from this host address, as one port does (0x40 RS-485, 0x80 UART); default: both' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l modbus-tcp -d 'Modbus families (seplos3): serve the packs on ADDR:PORT like a gateway in Modbus TCP mode (MBAP, unit id = pack address), one client at a time' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -s a -l address -d 'Bus addresses of the simulated packs: 1,2,3 or 1-4' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l all-frames -d 'Send every frame of a multi-frame answer, as over Bluetooth (Daly), not only those with data'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand daly" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l silent -d 'Address that never answers (repeatable)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l bad-crc-every -d 'Damage the checksum of every Nth reply' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l fault -d 'Set an alarm bit: NAME or ADDR:NAME, e.g. cell_ov, 2:protection_short_circuit' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l wire-baud -d 'Pace replies like a real line at this baud rate (default: as fast as possible)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l link -d 'Also make PATH a symlink to the pseudo-terminal (replacing only an earlier one into /dev/pts; removed at exit)' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l serial-tag -d 'Serial numbers are SIM-<TAG>-<ADDR> (default TAG: the pseudo-terminal\'s number)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l same-serial -d 'Every pack reports this one serial number, as LifePower4 packs built on the same day do (their serial field holds the build date)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l late-every -d 'Send every Nth reply late, after --late-by (the poller has given up on it by then)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l late-by -d 'How late --late-every replies are' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l twice-every -d 'Send every Nth reply twice' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l garbage-every -d 'Follow every Nth reply with garbage bytes (start bytes of both protocols among them)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l foreign-every -d 'Send every Nth reply with the next address in its header instead (a valid frame from the wrong pack)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l tcp -d 'Serve the packs on ADDR:PORT like a transparent RS-485-to-Ethernet gateway, one client at a time, instead of on a pseudo-terminal (port 0: any free port; the first stdout line is then tcp://ADDR:PORT)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l cells -d 'Cells per pack (1-16)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l asleep -d 'Packs that are asleep: a Daly echoes every request and answers nothing' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l write-log -d 'Append every frame received that is not an allowed read (a write) to FILE, as hex' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l host -d 'Daly: answer only requests from this host address, as one port does (0x40 RS-485, 0x80 UART); default: both' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l modbus-tcp -d 'Modbus families (seplos3): serve the packs on ADDR:PORT like a gateway in Modbus TCP mode (MBAP, unit id = pack address), one client at a time' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -s a -l address -d 'Bus addresses of the simulated packs: 1,2,3 or 1-4' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l all-frames -d 'Send every frame of a multi-frame answer, as over Bluetooth (Daly), not only those with data'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pylontech" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l silent -d 'Address that never answers (repeatable)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l bad-crc-every -d 'Damage the checksum of every Nth reply' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l fault -d 'Set an alarm bit: NAME or ADDR:NAME, e.g. cell_ov, 2:protection_short_circuit' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l wire-baud -d 'Pace replies like a real line at this baud rate (default: as fast as possible)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l link -d 'Also make PATH a symlink to the pseudo-terminal (replacing only an earlier one into /dev/pts; removed at exit)' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l serial-tag -d 'Serial numbers are SIM-<TAG>-<ADDR> (default TAG: the pseudo-terminal\'s number)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l same-serial -d 'Every pack reports this one serial number, as LifePower4 packs built on the same day do (their serial field holds the build date)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l late-every -d 'Send every Nth reply late, after --late-by (the poller has given up on it by then)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l late-by -d 'How late --late-every replies are' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l twice-every -d 'Send every Nth reply twice' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l garbage-every -d 'Follow every Nth reply with garbage bytes (start bytes of both protocols among them)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l foreign-every -d 'Send every Nth reply with the next address in its header instead (a valid frame from the wrong pack)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l tcp -d 'Serve the packs on ADDR:PORT like a transparent RS-485-to-Ethernet gateway, one client at a time, instead of on a pseudo-terminal (port 0: any free port; the first stdout line is then tcp://ADDR:PORT)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l cells -d 'Cells per pack (1-16)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l asleep -d 'Packs that are asleep: a Daly echoes every request and answers nothing' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l write-log -d 'Append every frame received that is not an allowed read (a write) to FILE, as hex' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l host -d 'Daly: answer only requests from this host address, as one port does (0x40 RS-485, 0x80 UART); default: both' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l modbus-tcp -d 'Modbus families (seplos3): serve the packs on ADDR:PORT like a gateway in Modbus TCP mode (MBAP, unit id = pack address), one client at a time' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -s a -l address -d 'Bus addresses of the simulated packs: 1,2,3 or 1-4' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l all-frames -d 'Send every frame of a multi-frame answer, as over Bluetooth (Daly), not only those with data'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l silent -d 'Address that never answers (repeatable)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l bad-crc-every -d 'Damage the checksum of every Nth reply' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l fault -d 'Set an alarm bit: NAME or ADDR:NAME, e.g. cell_ov, 2:protection_short_circuit' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l wire-baud -d 'Pace replies like a real line at this baud rate (default: as fast as possible)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l link -d 'Also make PATH a symlink to the pseudo-terminal (replacing only an earlier one into /dev/pts; removed at exit)' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l serial-tag -d 'Serial numbers are SIM-<TAG>-<ADDR> (default TAG: the pseudo-terminal\'s number)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l same-serial -d 'Every pack reports this one serial number, as LifePower4 packs built on the same day do (their serial field holds the build date)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l late-every -d 'Send every Nth reply late, after --late-by (the poller has given up on it by then)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l late-by -d 'How late --late-every replies are' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l twice-every -d 'Send every Nth reply twice' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l garbage-every -d 'Follow every Nth reply with garbage bytes (start bytes of both protocols among them)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l foreign-every -d 'Send every Nth reply with the next address in its header instead (a valid frame from the wrong pack)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l tcp -d 'Serve the packs on ADDR:PORT like a transparent RS-485-to-Ethernet gateway, one client at a time, instead of on a pseudo-terminal (port 0: any free port; the first stdout line is then tcp://ADDR:PORT)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l cells -d 'Cells per pack (1-16)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l asleep -d 'Packs that are asleep: a Daly echoes every request and answers nothing' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l write-log -d 'Append every frame received that is not an allowed read (a write) to FILE, as hex' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l host -d 'Daly: answer only requests from this host address, as one port does (0x40 RS-485, 0x80 UART); default: both' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l modbus-tcp -d 'Modbus families (seplos3): serve the packs on ADDR:PORT like a gateway in Modbus TCP mode (MBAP, unit id = pack address), one client at a time' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -s a -l address -d 'Bus addresses of the simulated packs: 1,2,3 or 1-4' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l all-frames -d 'Send every frame of a multi-frame answer, as over Bluetooth (Daly), not only those with data'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand pace" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -s a -l address -d 'Bus addresses of the simulated packs: 1,2,3 or 1-4' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l silent -d 'Address that never answers (repeatable)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l bad-crc-every -d 'Damage the checksum of every Nth reply' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l fault -d 'Set an alarm bit: NAME or ADDR:NAME, e.g. cell_ov, 2:protection_short_circuit' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l wire-baud -d 'Pace replies like a real line at this baud rate (default: as fast as possible)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l link -d 'Also make PATH a symlink to the pseudo-terminal (replacing only an earlier one into /dev/pts; removed at exit)' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l serial-tag -d 'Serial numbers are SIM-<TAG>-<ADDR> (default TAG: the pseudo-terminal\'s number)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l same-serial -d 'Every pack reports this one serial number, as LifePower4 packs built on the same day do (their serial field holds the build date)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l late-every -d 'Send every Nth reply late, after --late-by (the poller has given up on it by then)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l late-by -d 'How late --late-every replies are' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l twice-every -d 'Send every Nth reply twice' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l garbage-every -d 'Follow every Nth reply with garbage bytes (start bytes of both protocols among them)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l foreign-every -d 'Send every Nth reply with the next address in its header instead (a valid frame from the wrong pack)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l tcp -d 'Serve the packs on ADDR:PORT like a transparent RS-485-to-Ethernet gateway, one client at a time, instead of on a pseudo-terminal (port 0: any free port; the first stdout line is then tcp://ADDR:PORT)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l cells -d 'Cells per pack (1-16)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l asleep -d 'Packs that are asleep: a Daly echoes every request and answers nothing' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l write-log -d 'Append every frame received that is not an allowed read (a write) to FILE, as hex' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l host -d 'Daly: answer only requests from this host address, as one port does (0x40 RS-485, 0x80 UART); default: both' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l modbus-tcp -d 'Modbus families (seplos3): serve the packs on ADDR:PORT like a gateway in Modbus TCP mode (MBAP, unit id = pack address), one client at a time' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l all-frames -d 'Send every frame of a multi-frame answer, as over Bluetooth (Daly), not only those with data'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l silent -d 'Address that never answers (repeatable)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l bad-crc-every -d 'Damage the checksum of every Nth reply' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l fault -d 'Set an alarm bit: NAME or ADDR:NAME, e.g. cell_ov, 2:protection_short_circuit' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l wire-baud -d 'Pace replies like a real line at this baud rate (default: as fast as possible)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l link -d 'Also make PATH a symlink to the pseudo-terminal (replacing only an earlier one into /dev/pts; removed at exit)' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l serial-tag -d 'Serial numbers are SIM-<TAG>-<ADDR> (default TAG: the pseudo-terminal\'s number)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l same-serial -d 'Every pack reports this one serial number, as LifePower4 packs built on the same day do (their serial field holds the build date)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l late-every -d 'Send every Nth reply late, after --late-by (the poller has given up on it by then)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l late-by -d 'How late --late-every replies are' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l twice-every -d 'Send every Nth reply twice' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l garbage-every -d 'Follow every Nth reply with garbage bytes (start bytes of both protocols among them)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l foreign-every -d 'Send every Nth reply with the next address in its header instead (a valid frame from the wrong pack)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l tcp -d 'Serve the packs on ADDR:PORT like a transparent RS-485-to-Ethernet gateway, one client at a time, instead of on a pseudo-terminal (port 0: any free port; the first stdout line is then tcp://ADDR:PORT)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l cells -d 'Cells per pack (1-16)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l asleep -d 'Packs that are asleep: a Daly echoes every request and answers nothing' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l write-log -d 'Append every frame received that is not an allowed read (a write) to FILE, as hex' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l host -d 'Daly: answer only requests from this host address, as one port does (0x40 RS-485, 0x80 UART); default: both' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l modbus-tcp -d 'Modbus families (seplos3): serve the packs on ADDR:PORT like a gateway in Modbus TCP mode (MBAP, unit id = pack address), one client at a time' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -s a -l address -d 'Bus addresses of the simulated packs: 1,2,3 or 1-4' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l all-frames -d 'Send every frame of a multi-frame answer, as over Bluetooth (Daly), not only those with data'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand seplos3" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -s a -l address -d 'Bus addresses of the simulated packs: 1,2,3 or 1-4' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l silent -d 'Address that never answers (repeatable)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l bad-crc-every -d 'Damage the checksum of every Nth reply' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l fault -d 'Set an alarm bit: NAME or ADDR:NAME, e.g. cell_ov, 2:protection_short_circuit' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l wire-baud -d 'Pace replies like a real line at this baud rate (default: as fast as possible)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l link -d 'Also make PATH a symlink to the pseudo-terminal (replacing only an earlier one into /dev/pts; removed at exit)' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l serial-tag -d 'Serial numbers are SIM-<TAG>-<ADDR> (default TAG: the pseudo-terminal\'s number)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l same-serial -d 'Every pack reports this one serial number, as LifePower4 packs built on the same day do (their serial field holds the build date)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l late-every -d 'Send every Nth reply late, after --late-by (the poller has given up on it by then)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l late-by -d 'How late --late-every replies are' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l twice-every -d 'Send every Nth reply twice' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l garbage-every -d 'Follow every Nth reply with garbage bytes (start bytes of both protocols among them)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l foreign-every -d 'Send every Nth reply with the next address in its header instead (a valid frame from the wrong pack)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l tcp -d 'Serve the packs on ADDR:PORT like a transparent RS-485-to-Ethernet gateway, one client at a time, instead of on a pseudo-terminal (port 0: any free port; the first stdout line is then tcp://ADDR:PORT)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l cells -d 'Cells per pack (1-32)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l cycle -d 'Time from one master cycle to the next (a real master takes about 4.4 s)' -r
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l rx-log -d 'Append every byte the simulator receives to FILE, as hex, one line per read' -r -F
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l slaves -d 'No master: the packs answer trigger frames and (warm) FC03 reads'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l echo -d 'Echo every request before the answer, as CH341 RS-485 adapters do (--slaves)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -s v -l verbose -d 'More log output on stderr (-v info, -vv debug)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -s q -l quiet -d 'Less log output on stderr (-q errors only, -qq nothing)'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -l trace -d 'Log every frame sent and received as hex on stderr'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand jk-pb" -s h -l help -d 'Print help'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "lp4" -d 'EG4 LifePower4 v2 packs answering Modbus RTU on a pseudo-terminal'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "eg4-7e" -d 'First-generation EG4 LifePower packs answering the 7E/0D protocol on a pseudo-terminal'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "replay" -d 'Replay a saved byte capture into a pseudo-terminal, as if it were a live bus'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "rtu-capture" -d 'Write a synthetic Modbus RTU capture (LP4 polls and replies with line noise) to stdout'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "eflex" -d 'Fortress eFlex batteries as a candump -L stream on stdout'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "pylon" -d 'A battery bank and its inverter on the Pylon LV CAN link, as a candump -L stream'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "jbd" -d 'JBD / Jiabaida / Xiaoxiang / Overkill Solar BMS (DD ... 77 frames, UART or RS-485), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "daly" -d 'Daly BMS, classic 13-byte A5 frames (RS-485 or UART port), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "pylontech" -d 'Pylontech US2000/US3000/US5000/UP2500 on the RS-485/console port (ASCII ~...CR frames), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "seplos" -d 'Seplos v2 BMS boards (DIY 16S kits) on the RS-485/RS-232 port (ASCII ~...CR frames), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "pace" -d 'PACE v25 BMS boards (SOK, Gobel, Jakiper, BSL, ...) on the RS-485/RS-232 port (ASCII ~...CR frames, VER 0x25), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "jk" -d 'JK-B / JK-BD BMS (4E 57 frames, UART-TTL GPS port or RS-485 adapter), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "seplos3" -d 'Seplos v3 BMS boards over Modbus RTU (RS-485), simulated on a pseudo-terminal or --tcp'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "jk-pb" -d 'JK-PB inverter BMS packs on one RS-485 bus: a bus master (DIP address 0) polling its slaves, or (--slaves) slaves answering trigger frames'
complete -c bms-sim -n "__fish_bms_sim_using_subcommand help; and not __fish_seen_subcommand_from lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
