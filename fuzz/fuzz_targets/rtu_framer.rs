//! Modbus RTU framer and pairer (rtu-sniff): any byte stream, cut into reads anywhere, gives
//! the same events as the whole stream at once, and never more than MAX_ADU bytes held back.
#![no_main]

use bmstap::proto::rtu::{Event, Framer};
use libfuzzer_sys::fuzz_target;

fn events(chunks: &[&[u8]], timed: bool) -> Vec<String> {
    let mut framer = Framer::new();
    let mut out = Vec::new();
    let mut note = |e: Event<'_>| {
        if let Event::Frame(f) = &e {
            // Every accessor must cope with any CRC-valid frame.
            let _ = f.registers().map(|r| r.count());
            let _ = f.exception_code();
        }
        out.push(format!("{e:?}"));
    };
    for (i, c) in chunks.iter().enumerate() {
        // With timestamps (1 ms a read) the reply timeout also decides pairing.
        let ts = timed.then_some(i as u64 * 1000);
        framer.push(c, ts, &mut note);
        assert!(framer.buffered() < 256 + 1);
    }
    framer.finish(&mut note);
    let stats = *framer.stats();
    out.push(format!("{stats:?}"));
    out
}

fuzz_target!(|data: &[u8]| {
    // The first byte sets the read size, the rest is the stream.
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let size = usize::from(cut % 64) + 1;
    let chunks: Vec<&[u8]> = stream.chunks(size).collect();
    let whole = events(&[stream], false);
    let split = events(&chunks, false);
    assert_eq!(whole, split, "framing depends on how the stream was cut");
    let _ = events(&chunks, true);
});
