//! Property tests without the official generator: every generated image reads back (all
//! CRCs checked by `parse`) to exactly the entries that went in, and the generator's
//! refusals hold.

use flashline_nvs::format::{ENTRIES_PER_PAGE, PAGE_SIZE};
use flashline_nvs::{generate, generate_items, parse, Entry, Item, Key, NvsError, ParseError, Value};
use proptest::prelude::*;

fn key(name: &str) -> Key {
    Key::new(name).unwrap()
}

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u8>().prop_map(Value::U8),
        any::<i8>().prop_map(Value::I8),
        any::<u16>().prop_map(Value::U16),
        any::<i16>().prop_map(Value::I16),
        any::<u32>().prop_map(Value::U32),
        any::<i32>().prop_map(Value::I32),
        any::<u64>().prop_map(Value::U64),
        any::<i64>().prop_map(Value::I64),
        "[^\u{0}]{0,300}".prop_map(Value::Str),
        "[a-z]{3800,3967}".prop_map(Value::Str),
        proptest::collection::vec(any::<u8>(), 0..400).prop_map(Value::Blob),
        proptest::collection::vec(any::<u8>(), 3000..20000).prop_map(Value::Blob),
    ]
}

/// Entries over up to 6 namespaces, interleaved, keys unique per namespace.
fn entries() -> impl Strategy<Value = Vec<Entry>> {
    proptest::collection::vec((0u8..6, value()), 0..80).prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (ns, value))| Entry::new(key(&format!("space{ns}")), key(&format!("k{i}")), value))
            .collect()
    })
}

/// The namespaces of `entries` in order of first use.
fn namespaces(entries: &[Entry]) -> Vec<Key> {
    let mut seen = Vec::new();
    for e in entries {
        if !seen.contains(&e.namespace) {
            seen.push(e.namespace.clone());
        }
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn images_read_back_to_their_entries(entries in entries()) {
        let size = 0x80000;
        let image = generate(&entries, size).unwrap();
        prop_assert_eq!(image.len(), size);
        let contents = parse(&image).unwrap();
        prop_assert_eq!(&contents.entries, &entries);
        prop_assert_eq!(contents.namespaces, namespaces(&entries));
    }

    #[test]
    fn a_flipped_bit_in_a_used_page_is_caught(entries in entries(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let image = generate(&entries, 0x80000).unwrap();
        let used = image.chunks(PAGE_SIZE).take_while(|p| p.iter().any(|&b| b != 0xFF)).count();
        // Any byte of a used page except the page state (not covered by a CRC) and the
        // unused tail of a partly filled data entry or of the free entries.
        let page_at = at.index(used * PAGE_SIZE);
        let within = page_at % PAGE_SIZE;
        prop_assume!(within >= 4);
        let mut damaged = image.clone();
        damaged[page_at] ^= 1 << bit;
        match parse(&damaged) {
            Err(_) => {}
            // A flip in bytes no CRC covers (padding, free space) may read back unchanged.
            Ok(contents) => prop_assert_eq!(contents.entries, entries),
        }
    }

    #[test]
    fn too_small_names_a_size_that_fits(entries in entries(), pages in 1usize..12) {
        let size = pages * PAGE_SIZE;
        match generate(&entries, size) {
            Ok(image) => prop_assert!(image.len() <= size),
            Err(NvsError::PartitionTooSmall { size: s, pages: needed_pages, needed }) => {
                prop_assert_eq!(s, size);
                prop_assert!(needed > size);
                let image = generate(&entries, needed).unwrap();
                prop_assert_eq!(parse(&image).unwrap().entries, entries.clone());
                let used = image.chunks(PAGE_SIZE).filter(|p| p.iter().any(|&b| b != 0xFF)).count();
                prop_assert_eq!(used, needed_pages);
                if needed > PAGE_SIZE {
                    let smaller = generate(&entries, needed - PAGE_SIZE);
                    prop_assert!(matches!(smaller, Err(NvsError::PartitionTooSmall { .. })), "{:?}", smaller.map(|i| i.len()));
                }
            }
            Err(other) => prop_assert!(false, "unexpected refusal: {}", other),
        }
    }
}

#[test]
fn damage_in_crc_covered_fields_is_an_error() {
    let entries = vec![
        Entry::new(key("ns"), key("n"), Value::U32(7)),
        Entry::new(key("ns"), key("s"), Value::Str("hello".into())),
        Entry::new(key("ns"), key("b"), Value::Blob(vec![1; 5000])),
    ];
    let image = generate(&entries, 0x4000).unwrap();
    let flip = |at: usize| {
        let mut d = image.clone();
        d[at] ^= 0x01;
        parse(&d)
    };
    assert!(matches!(flip(8), Err(ParseError::HeaderCrc { page: 0 })));
    // Entry 1 (the u32) is at 64 + 32; its value at +24.
    assert!(matches!(flip(64 + 32 + 24), Err(ParseError::Entry { page: 0, entry: 1, .. })));
    // The string's data starts at entry 3.
    assert!(matches!(flip(64 + 3 * 32), Err(ParseError::Entry { page: 0, entry: 2, .. })));
    assert!(matches!(parse(&image[..100]), Err(ParseError::NotWholePages { len: 100 })));
}

#[test]
fn layout_of_a_small_image() {
    let entries = vec![
        Entry::new(key("storage"), key("count"), Value::U8(3)),
        Entry::new(key("storage"), key("name"), Value::Str("line-7".into())),
    ];
    let image = generate(&entries, 0x3000).unwrap();
    assert_eq!(image.len(), 0x3000);
    // Page 0 active, sequence 0, version 2; pages 1 and 2 erased.
    assert_eq!(image[0..9], [0xFE, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0xFE]);
    assert!(image[PAGE_SIZE..].iter().all(|&b| b == 0xFF));
    // Bitmap: namespace, u8, string header, string data: four entries written.
    assert_eq!(image[32], 0b1010_1010);
    assert_eq!(image[33], 0xFF);
    let ns = &image[64..96];
    assert_eq!(ns[..4], [0, 0x01, 1, 0xFF]);
    assert_eq!(&ns[8..16], b"storage\0");
    assert_eq!(ns[24], 1, "the first namespace gets index 1");
    let s = &image[128..160];
    assert_eq!(s[..4], [1, 0x21, 2, 0xFF]);
    assert_eq!(s[24..28], [7, 0, 0xFF, 0xFF], "size includes the NUL");
    assert_eq!(&image[160..167], b"line-7\0");
    assert_eq!(image[167], 0xFF);
}

#[test]
fn refusals() {
    let e = |ns: &str, k: &str, v: Value| Entry::new(key(ns), key(k), v);
    let cases: [(Vec<Entry>, usize, NvsError); 6] = [
        (vec![], 0x1800, NvsError::SizeNotPageMultiple { size: 0x1800 }),
        (vec![], 0, NvsError::SizeBelowOnePage { size: 0 }),
        (
            vec![e("n", "a", Value::U8(1)), e("n", "a", Value::U8(2))],
            0x3000,
            NvsError::DuplicateKey { namespace: "n".into(), key: "a".into() },
        ),
        (
            vec![e("n", "s", Value::Str("x".repeat(3968)))],
            0x3000,
            NvsError::StringTooLong { namespace: "n".into(), key: "s".into(), len: 3969 },
        ),
        (
            vec![e("n", "s", Value::Str("a\0b".into()))],
            0x3000,
            NvsError::StringHasNul { namespace: "n".into(), key: "s".into() },
        ),
        (
            vec![e("n", "b", Value::Blob(vec![0; 504_001]))],
            0x100000,
            NvsError::BlobTooLong { namespace: "n".into(), key: "b".into(), len: 504_001 },
        ),
    ];
    for (entries, size, want) in cases {
        assert_eq!(generate(&entries, size), Err(want.clone()), "{want}");
    }
    // The longest blob fits and reads back.
    let longest = vec![e("n", "b", Value::Blob((0..504_000u32).map(|i| i as u8).collect()))];
    let image = generate(&longest, 0x100000).unwrap();
    assert_eq!(parse(&image).unwrap().entries, longest);
}

#[test]
fn namespace_limit() {
    let items: Vec<Item> = (0..255).map(|i| Item::Namespace(key(&format!("n{i}")))).collect();
    assert_eq!(generate_items(&items, 0x10000), Err(NvsError::TooManyNamespaces { namespace: "n254".into() }));
    let image = generate_items(&items[..254], 0x10000).unwrap();
    assert_eq!(parse(&image).unwrap().namespaces.len(), 254);
    let used = image.chunks(PAGE_SIZE).filter(|p| p.iter().any(|&b| b != 0xFF)).count();
    assert_eq!(used, 254usize.div_ceil(ENTRIES_PER_PAGE), "254 namespace entries fill two pages and start a third");
}

#[test]
fn returning_to_a_namespace_files_entries_under_it() {
    // The official generator 0.3.0 files `c` under ns2 (the latest new namespace); flashline
    // files it where the CSV says (see the csv module docs).
    let text = "key,type,encoding,value\nns1,namespace,,\na,data,u8,1\nns2,namespace,,\nb,data,u8,2\n\
                ns1,namespace,,\nc,data,u8,3\n";
    let items = flashline_nvs::csv::parse(text, |_| unreachable!("no file rows")).unwrap();
    let contents = parse(&generate_items(&items, 0x3000).unwrap()).unwrap();
    assert_eq!(contents.namespaces, [key("ns1"), key("ns2")]);
    let placed: Vec<(&str, &str)> = contents.entries.iter().map(|e| (e.namespace.as_str(), e.key.as_str())).collect();
    assert_eq!(placed, [("ns1", "a"), ("ns2", "b"), ("ns1", "c")]);
}
