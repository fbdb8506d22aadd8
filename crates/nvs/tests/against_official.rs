//! flashline's NVS images against Espressif's generator: the same CSV through both tools
//! must give the same bytes (or be refused by both when the partition is too small).

mod official;

use flashline_nvs::{csv, generate_items, Entry, Item, Key, NvsError, Value};
use official::{assert_same, official, to_csv, CsvCase, Official};
use proptest::prelude::*;

/// flashline's image for a CSV case.
fn ours(case: &CsvCase, size: usize) -> Result<Vec<u8>, NvsError> {
    let items = csv::parse(&case.csv, |path| {
        case.files
            .iter()
            .find(|(name, _)| name == path)
            .map(|(_, bytes)| bytes.clone())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, path.to_owned()))
    })
    .unwrap_or_else(|e| panic!("flashline refused the CSV: {e}\n{}", case.csv));
    generate_items(&items, size)
}

/// Both tools on one case; they must agree.
fn check(tool: &Official, what: &str, case: &CsvCase, size: usize) {
    match (ours(case, size), tool.generate(case, size)) {
        (Ok(a), Ok(b)) => assert_same(&a, &b, what),
        (Err(NvsError::PartitionTooSmall { .. }), Err(_)) => {}
        (Err(e), Ok(_)) => panic!("{what}: flashline refused ({e}) what the official generator accepted"),
        (Ok(_), Err(e)) => panic!("{what}: the official generator refused what flashline accepted: {e}"),
        (Err(e), Err(_)) => panic!("{what}: flashline refused for another reason than size: {e}"),
    }
}

fn csv_case(body: &str) -> CsvCase {
    CsvCase { csv: format!("key,type,encoding,value\n{body}"), files: Vec::new() }
}

/// `n` u8 rows named `{prefix}{i}`.
fn u8_rows(prefix: &str, n: usize) -> String {
    (0..n).map(|i| format!("{prefix}{i},data,u8,{}\n", i % 256)).collect()
}

fn hex_of(len: usize, seed: u8) -> String {
    (0..len).map(|i| format!("{:02x}", (i as u8).wrapping_mul(31).wrapping_add(seed))).collect()
}

#[test]
fn integers_of_every_type() {
    let Some(tool) = official() else { return };
    let mut body = String::from("ints,namespace,,\n");
    for (ty, values) in [
        ("u8", ["0", "1", "255"]),
        ("i8", ["-128", "-1", "127"]),
        ("u16", ["0", "4660", "65535"]),
        ("i16", ["-32768", "-1", "32767"]),
        ("u32", ["0", "305419896", "4294967295"]),
        ("i32", ["-2147483648", "-1", "2147483647"]),
        ("u64", ["0", "81985529216486895", "18446744073709551615"]),
        ("i64", ["-9223372036854775808", "-1", "9223372036854775807"]),
    ] {
        for (i, v) in values.iter().enumerate() {
            body.push_str(&format!("{ty}_{i},data,{ty},{v}\n"));
        }
    }
    check(&tool, "integers", &csv_case(&body), 0x3000);
}

#[test]
fn strings_of_many_lengths() {
    let Some(tool) = official() else { return };
    let mut body = String::from("text,namespace,,\n");
    let lengths = [0, 1, 2, 30, 31, 32, 33, 62, 63, 64, 65, 100, 500, 1000, 2000, 3000, 3966, 3967];
    for (i, len) in lengths.iter().enumerate() {
        let s: String = (0..*len).map(|j| char::from(b'a' + ((i + j) % 26) as u8)).collect();
        body.push_str(&format!("s{i},data,string,{s}\n"));
    }
    body.push_str("utf8,data,string,gr\u{f6}\u{df}e \u{65e5}\u{672c}\n");
    body.push_str("quoted,data,string,\"a, \"\"quoted\"\" value\"\n");
    check(&tool, "strings", &csv_case(&body), 0x10000);
}

#[test]
fn a_string_never_ends_a_page() {
    let Some(tool) = official() else { return };
    // Namespace + 120 integers = 121 entries; a 101-byte string (span 5) would end the
    // page exactly, so it moves; a 97-byte one (span 5) too; a 96-byte one (span 4) stays.
    for len in [95, 96, 100, 128] {
        let body = format!("n,namespace,,\n{}s,data,string,{}\n", u8_rows("k", 120), "x".repeat(len));
        check(&tool, &format!("string of {len} chars after 121 entries"), &csv_case(&body), 0x4000);
    }
}

#[test]
fn blobs_spanning_pages() {
    let Some(tool) = official() else { return };
    let mut body = String::from("blobs,namespace,,\n");
    for (i, len) in [0, 1, 31, 32, 33, 3968, 3999, 4000, 4001, 8000, 12345, 30000].iter().enumerate() {
        body.push_str(&format!("b{i},data,hex2bin,{}\n", hex_of(*len, i as u8)));
    }
    check(&tool, "blobs", &csv_case(&body), 0x20000);
}

#[test]
fn blobs_at_page_ends() {
    let Some(tool) = official() else { return };
    // Namespace + 124 integers leave one entry: the blob's first chunk is empty.
    for len in [0, 1, 100, 5000] {
        let body = format!("n,namespace,,\n{}b,data,hex2bin,{}\n", u8_rows("k", 124), hex_of(len, 7));
        check(&tool, &format!("{len}-byte blob at the last entry"), &csv_case(&body), 0x6000);
    }
    // A chunk that fills the page to the end puts the index on the next page.
    for len in [3936, 3937, 3968, 3969] {
        let body = format!("n,namespace,,\nb,data,hex2bin,{}\nafter,data,u8,1\n", hex_of(len, 3));
        check(&tool, &format!("{len}-byte blob filling page 0"), &csv_case(&body), 0x6000);
    }
}

#[test]
fn full_pages_and_many_namespaces() {
    let Some(tool) = official() else { return };
    let exactly_full = format!("n,namespace,,\n{}", u8_rows("k", 125));
    check(&tool, "one page exactly full", &csv_case(&exactly_full), 0x3000);
    let one_more = format!("{exactly_full}last,data,u32,7\n");
    check(&tool, "one entry past a full page", &csv_case(&one_more), 0x3000);
    let mut body = String::new();
    for ns in 0..40 {
        body.push_str(&format!("ns{ns},namespace,,\n"));
        if ns % 3 != 0 {
            body.push_str(&format!("v,data,u16,{ns}\nname,data,string,namespace {ns}\n"));
        }
    }
    check(&tool, "40 namespaces, some empty", &csv_case(&body), 0x5000);
    check(&tool, "many pages of integers", &csv_case(&format!("n,namespace,,\n{}", u8_rows("k", 600))), 0x8000);
}

#[test]
fn partition_sizes() {
    let Some(tool) = official() else { return };
    let empty = csv_case("");
    let small = csv_case("n,namespace,,\na,data,u8,1\nb,data,string,hi\n");
    let two_pages = csv_case(&format!("n,namespace,,\n{}", u8_rows("k", 200)));
    let three_pages = csv_case(&format!("n,namespace,,\n{}", u8_rows("k", 300)));
    let cases: [(&str, &CsvCase, usize); 12] = [
        ("header only, 0x1000", &empty, 0x1000),
        ("header only, 0x3000", &empty, 0x3000),
        ("header only, 0x5000", &empty, 0x5000),
        ("small, read-only 0x1000", &small, 0x1000),
        ("small, read-only 0x2000", &small, 0x2000),
        ("small, 0x3000", &small, 0x3000),
        ("small, 0x24000", &small, 0x24000),
        ("two pages in read-only 0x2000", &two_pages, 0x2000),
        ("two pages in 0x3000", &two_pages, 0x3000),
        ("two pages in 0x1000: too small", &two_pages, 0x1000),
        ("three pages in 0x3000: too small", &three_pages, 0x3000),
        ("three pages in 0x4000", &three_pages, 0x4000),
    ];
    for (what, case, size) in cases {
        check(&tool, what, case, size);
    }
}

#[test]
fn files_fills_and_driver_keys() {
    let Some(tool) = official() else { return };
    let case = CsvCase {
        csv: "key,type,encoding,value\n\
              # provisioning\n\
              certs,namespace,,\n\
              cert,file,binary,cert.der\n\
              name,file,string,name.txt\n\
              key_hex,file,hex2bin,key.hex\n\
              key_b64,file,base64,key.b64\n\
              count,file,u16,count.txt\n\
              pad,data,blob_fill(48;0xff),serial-0001\n\
              padsz,data,blob_sz_fill(20;0x00),abc\n\
              nvs.net80211,namespace,,\n\
              sta.ssid,data,blob_fill(32;0x00),factory-line\n\
              sta.pswd,data,blob_fill(64;0x00),not-a-real-password\n"
            .into(),
        files: vec![
            ("cert.der".into(), (0..1500u32).map(|i| (i * 7 % 251) as u8).collect()),
            ("name.txt".into(), b"board \xc3\xa9 7\n".to_vec()),
            ("key.hex".into(), format!("{}\n", hex_of(64, 1)).into_bytes()),
            ("key.b64".into(), b"AAECAwQFBgcICQoLDA0ODxAREhM=\n".to_vec()),
            ("count.txt".into(), b"513\n".to_vec()),
        ],
    };
    check(&tool, "files, fills and station keys", &case, 0x6000);
}

// Random entry sets: namespaces in runs (see csv's note on returning to a namespace),
// values of every kind, partitions from too small to roomy.

fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => any::<u8>().prop_map(Value::U8),
        1 => any::<i8>().prop_map(Value::I8),
        1 => any::<u16>().prop_map(Value::U16),
        1 => any::<i16>().prop_map(Value::I16),
        1 => any::<u32>().prop_map(Value::U32),
        1 => any::<i32>().prop_map(Value::I32),
        1 => any::<u64>().prop_map(Value::U64),
        1 => any::<i64>().prop_map(Value::I64),
        3 => "[ -~\u{e9}\u{65e5}]{0,200}".prop_map(Value::Str),
        1 => "[a-z]{3000,3967}".prop_map(Value::Str),
        3 => proptest::collection::vec(any::<u8>(), 0..600).prop_map(Value::Blob),
        1 => proptest::collection::vec(any::<u8>(), 3000..12000).prop_map(Value::Blob),
    ]
}

fn items() -> impl Strategy<Value = Vec<Item>> {
    proptest::collection::vec(proptest::collection::vec(value(), 0..40), 1..5).prop_map(|groups| {
        let mut items = Vec::new();
        for (g, values) in groups.into_iter().enumerate() {
            let namespace = Key::new(&format!("ns{g}")).unwrap();
            items.push(Item::Namespace(namespace.clone()));
            for (i, value) in values.into_iter().enumerate() {
                let key = Key::new(&format!("key_{g}_{i}")).unwrap();
                items.push(Item::Entry(Entry::new(namespace.clone(), key, value)));
            }
        }
        items
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_entry_sets(items in items(), pages in 1usize..24) {
        let Some(tool) = official() else { return Ok(()) };
        let case = to_csv(&items);
        check(&tool, &format!("random set in {pages} pages"), &case, pages * 0x1000);
    }
}
