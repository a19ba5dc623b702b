fn main() {
    bmstap::exit::main(bmstap::tools::bms_poll::run)
}
