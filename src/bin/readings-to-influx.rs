fn main() {
    bmstap::exit::main(bmstap::tools::readings_to_influx::run)
}
