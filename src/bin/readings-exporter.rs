fn main() {
    bmstap::exit::main(bmstap::tools::readings_exporter::run)
}
