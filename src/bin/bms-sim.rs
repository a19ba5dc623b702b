fn main() {
    bmstap::exit::main(bmstap::tools::bms_sim::run)
}
