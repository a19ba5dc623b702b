fn main() {
    bmstap::exit::main(bmstap::tools::readings_to_mqtt::run)
}
