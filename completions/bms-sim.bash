_bms__sim() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="bms__sim"
                ;;
            bms__sim,daly)
                cmd="bms__sim__subcmd__daly"
                ;;
            bms__sim,eflex)
                cmd="bms__sim__subcmd__eflex"
                ;;
            bms__sim,eg4-7e)
                cmd="bms__sim__subcmd__eg4__subcmd__7e"
                ;;
            bms__sim,help)
                cmd="bms__sim__subcmd__help"
                ;;
            bms__sim,jbd)
                cmd="bms__sim__subcmd__jbd"
                ;;
            bms__sim,jk)
                cmd="bms__sim__subcmd__jk"
                ;;
            bms__sim,jk-pb)
                cmd="bms__sim__subcmd__jk__subcmd__pb"
                ;;
            bms__sim,lp4)
                cmd="bms__sim__subcmd__lp4"
                ;;
            bms__sim,pace)
                cmd="bms__sim__subcmd__pace"
                ;;
            bms__sim,pylon)
                cmd="bms__sim__subcmd__pylon"
                ;;
            bms__sim,pylontech)
                cmd="bms__sim__subcmd__pylontech"
                ;;
            bms__sim,replay)
                cmd="bms__sim__subcmd__replay"
                ;;
            bms__sim,rtu-capture)
                cmd="bms__sim__subcmd__rtu__subcmd__capture"
                ;;
            bms__sim,seplos)
                cmd="bms__sim__subcmd__seplos"
                ;;
            bms__sim,seplos3)
                cmd="bms__sim__subcmd__seplos3"
                ;;
            bms__sim__subcmd__help,daly)
                cmd="bms__sim__subcmd__help__subcmd__daly"
                ;;
            bms__sim__subcmd__help,eflex)
                cmd="bms__sim__subcmd__help__subcmd__eflex"
                ;;
            bms__sim__subcmd__help,eg4-7e)
                cmd="bms__sim__subcmd__help__subcmd__eg4__subcmd__7e"
                ;;
            bms__sim__subcmd__help,help)
                cmd="bms__sim__subcmd__help__subcmd__help"
                ;;
            bms__sim__subcmd__help,jbd)
                cmd="bms__sim__subcmd__help__subcmd__jbd"
                ;;
            bms__sim__subcmd__help,jk)
                cmd="bms__sim__subcmd__help__subcmd__jk"
                ;;
            bms__sim__subcmd__help,jk-pb)
                cmd="bms__sim__subcmd__help__subcmd__jk__subcmd__pb"
                ;;
            bms__sim__subcmd__help,lp4)
                cmd="bms__sim__subcmd__help__subcmd__lp4"
                ;;
            bms__sim__subcmd__help,pace)
                cmd="bms__sim__subcmd__help__subcmd__pace"
                ;;
            bms__sim__subcmd__help,pylon)
                cmd="bms__sim__subcmd__help__subcmd__pylon"
                ;;
            bms__sim__subcmd__help,pylontech)
                cmd="bms__sim__subcmd__help__subcmd__pylontech"
                ;;
            bms__sim__subcmd__help,replay)
                cmd="bms__sim__subcmd__help__subcmd__replay"
                ;;
            bms__sim__subcmd__help,rtu-capture)
                cmd="bms__sim__subcmd__help__subcmd__rtu__subcmd__capture"
                ;;
            bms__sim__subcmd__help,seplos)
                cmd="bms__sim__subcmd__help__subcmd__seplos"
                ;;
            bms__sim__subcmd__help,seplos3)
                cmd="bms__sim__subcmd__help__subcmd__seplos3"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        bms__sim)
            opts="-v -q -h -V --verbose --quiet --trace --help --version lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__daly)
            opts="-a -v -q -h --silent --bad-crc-every --fault --wire-baud --link --serial-tag --same-serial --late-every --late-by --twice-every --garbage-every --foreign-every --tcp --cells --asleep --all-frames --write-log --host --modbus-tcp --address --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --silent)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bad-crc-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fault)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --wire-baud)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --link)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --serial-tag)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --same-serial)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-by)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --twice-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --garbage-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --foreign-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cells)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --asleep)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --write-log)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --modbus-tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__eflex)
            opts="-n -v -q -h --batteries --cycles --rate --interleave --no-partial --truth --iface --start --seed --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --batteries)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -n)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cycles)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rate)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --truth)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --iface)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --start)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --seed)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__eg4__subcmd__7e)
            opts="-a -v -q -h --address --silent --bad-crc-every --fault --wire-baud --link --serial-tag --same-serial --late-every --late-by --twice-every --garbage-every --foreign-every --tcp --cells --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --silent)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bad-crc-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fault)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --wire-baud)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --link)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --serial-tag)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --same-serial)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-by)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --twice-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --garbage-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --foreign-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cells)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help)
            opts="lp4 eg4-7e replay rtu-capture eflex pylon jbd daly pylontech seplos pace jk seplos3 jk-pb help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__daly)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__eflex)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__eg4__subcmd__7e)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__help)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__jbd)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__jk)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__jk__subcmd__pb)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__lp4)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__pace)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__pylon)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__pylontech)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__replay)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__rtu__subcmd__capture)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__seplos)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__help__subcmd__seplos3)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__jbd)
            opts="-a -v -q -h --address --silent --bad-crc-every --fault --wire-baud --link --serial-tag --same-serial --late-every --late-by --twice-every --garbage-every --foreign-every --tcp --cells --asleep --all-frames --write-log --host --modbus-tcp --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --silent)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bad-crc-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fault)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --wire-baud)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --link)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --serial-tag)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --same-serial)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-by)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --twice-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --garbage-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --foreign-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cells)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --asleep)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --write-log)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --modbus-tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__jk)
            opts="-a -v -q -h --address --silent --bad-crc-every --fault --wire-baud --link --serial-tag --same-serial --late-every --late-by --twice-every --garbage-every --foreign-every --tcp --cells --asleep --all-frames --write-log --host --modbus-tcp --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --silent)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bad-crc-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fault)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --wire-baud)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --link)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --serial-tag)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --same-serial)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-by)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --twice-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --garbage-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --foreign-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cells)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --asleep)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --write-log)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --modbus-tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__jk__subcmd__pb)
            opts="-a -v -q -h --address --silent --bad-crc-every --fault --wire-baud --link --serial-tag --same-serial --late-every --late-by --twice-every --garbage-every --foreign-every --tcp --slaves --echo --cells --cycle --rx-log --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --silent)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bad-crc-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fault)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --wire-baud)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --link)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --serial-tag)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --same-serial)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-by)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --twice-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --garbage-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --foreign-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cells)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cycle)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rx-log)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__lp4)
            opts="-a -v -q -h --address --silent --bad-crc-every --fault --wire-baud --link --serial-tag --same-serial --late-every --late-by --twice-every --garbage-every --foreign-every --tcp --modbus-tcp --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --silent)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bad-crc-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fault)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --wire-baud)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --link)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --serial-tag)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --same-serial)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-by)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --twice-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --garbage-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --foreign-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --modbus-tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__pace)
            opts="-a -v -q -h --silent --bad-crc-every --fault --wire-baud --link --serial-tag --same-serial --late-every --late-by --twice-every --garbage-every --foreign-every --tcp --cells --asleep --all-frames --write-log --host --modbus-tcp --address --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --silent)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bad-crc-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fault)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --wire-baud)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --link)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --serial-tag)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --same-serial)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-by)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --twice-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --garbage-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --foreign-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cells)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --asleep)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --write-log)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --modbus-tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__pylon)
            opts="-v -q -h --cycles --rate --modules --fault --victron --no-heartbeat --manufacturer --truth --iface --start --seed --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --cycles)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rate)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --modules)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fault)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --manufacturer)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --truth)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --iface)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --start)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --seed)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__pylontech)
            opts="-a -v -q -h --silent --bad-crc-every --fault --wire-baud --link --serial-tag --same-serial --late-every --late-by --twice-every --garbage-every --foreign-every --tcp --cells --asleep --all-frames --write-log --host --modbus-tcp --address --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --silent)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bad-crc-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fault)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --wire-baud)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --link)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --serial-tag)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --same-serial)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-by)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --twice-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --garbage-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --foreign-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cells)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --asleep)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --write-log)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --modbus-tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__replay)
            opts="-v -q -h --wire-baud --now --link --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --wire-baud)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --link)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__rtu__subcmd__capture)
            opts="-v -q -h --bytes --noise --seed --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --bytes)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --noise)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --seed)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__seplos)
            opts="-a -v -q -h --silent --bad-crc-every --fault --wire-baud --link --serial-tag --same-serial --late-every --late-by --twice-every --garbage-every --foreign-every --tcp --cells --asleep --all-frames --write-log --host --modbus-tcp --address --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --silent)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bad-crc-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fault)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --wire-baud)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --link)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --serial-tag)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --same-serial)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-by)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --twice-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --garbage-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --foreign-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cells)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --asleep)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --write-log)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --modbus-tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        bms__sim__subcmd__seplos3)
            opts="-a -v -q -h --silent --bad-crc-every --fault --wire-baud --link --serial-tag --same-serial --late-every --late-by --twice-every --garbage-every --foreign-every --tcp --cells --asleep --all-frames --write-log --host --modbus-tcp --address --verbose --quiet --trace --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --silent)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --bad-crc-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --fault)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --wire-baud)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --link)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --serial-tag)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --same-serial)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --late-by)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --twice-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --garbage-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --foreign-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cells)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --asleep)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --write-log)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --host)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --modbus-tcp)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _bms__sim -o nosort -o bashdefault -o default bms-sim
else
    complete -F _bms__sim -o bashdefault -o default bms-sim
fi
