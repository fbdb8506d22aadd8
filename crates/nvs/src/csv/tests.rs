//! Table tests of the CSV reader.

use std::io;

use super::{parse, CsvProblem, WifiError};
use crate::{Entry, Item, Key, Value};

fn key(name: &str) -> Key {
    Key::new(name).unwrap()
}

fn entry(namespace: &str, name: &str, value: Value) -> Item {
    Item::Entry(Entry::new(key(namespace), key(name), value))
}

fn no_files(path: &str) -> io::Result<Vec<u8>> {
    Err(io::Error::new(io::ErrorKind::NotFound, format!("no file {path}")))
}

#[test]
fn reads_every_encoding() {
    let text = "key,type,encoding,value\n\
                # a comment\n\
                ns,namespace,,\n\
                a,data,u8,1\n\
                b,data,i8,-1\n\
                c,data,u16,65535\n\
                d,data,i16,-2\n\
                e,data,u32,3\n\
                f,data,i32,-4\n\
                g,data,u64,5\n\
                h,data,i64,-6\n\
                s,data,string,\"hello, world\"\n\
                x,data,hex2bin,00ff\n\
                y,data,base64,aGk=\n\
                z,data,binary,raw\n\
                p,data,blob_fill(4;0xaa),x\n\
                q,data,blob_sz_fill(2;0x00),x\n\
                ns2,namespace,,\n\
                fb,file,binary,cert.der\n\
                fs,file,string,name.txt\n\
                fi,file,u8,num.txt\n";
    let items = parse(text, |path| match path {
        "cert.der" => Ok(vec![0, 1, 2]),
        "name.txt" => Ok(b"board\n".to_vec()),
        "num.txt" => Ok(b"9\n".to_vec()),
        other => no_files(other),
    })
    .unwrap();
    let want = vec![
        Item::Namespace(key("ns")),
        entry("ns", "a", Value::U8(1)),
        entry("ns", "b", Value::I8(-1)),
        entry("ns", "c", Value::U16(65535)),
        entry("ns", "d", Value::I16(-2)),
        entry("ns", "e", Value::U32(3)),
        entry("ns", "f", Value::I32(-4)),
        entry("ns", "g", Value::U64(5)),
        entry("ns", "h", Value::I64(-6)),
        entry("ns", "s", Value::Str("hello, world".into())),
        entry("ns", "x", Value::Blob(vec![0, 0xFF])),
        entry("ns", "y", Value::Blob(b"hi".to_vec())),
        entry("ns", "z", Value::Blob(b"raw".to_vec())),
        entry("ns", "p", Value::Blob(vec![b'x', 0xAA, 0xAA, 0xAA])),
        entry("ns", "q", Value::Blob(vec![1, 0, 0, 0, b'x', 0])),
        Item::Namespace(key("ns2")),
        entry("ns2", "fb", Value::Blob(vec![0, 1, 2])),
        entry("ns2", "fs", Value::Str("board\n".into())),
        entry("ns2", "fi", Value::U8(9)),
    ];
    assert_eq!(items, want);
}

#[test]
fn columns_may_come_in_any_order() {
    let items = parse("value,encoding,type,key\n,,namespace,ns\n7,u8,data,k\n", no_files).unwrap();
    assert_eq!(items, vec![Item::Namespace(key("ns")), entry("ns", "k", Value::U8(7))]);
}

#[test]
fn refusals_name_the_line() {
    type Check = fn(&CsvProblem) -> bool;
    let cases: [(&str, usize, Check); 14] = [
        ("", 1, |p| matches!(p, CsvProblem::Empty)),
        ("key,type,value\n", 1, |p| matches!(p, CsvProblem::MissingColumn { column: "encoding" })),
        ("key,type,encoding,value\nk,data,u8,1\n", 2, |p| matches!(p, CsvProblem::NoNamespace { .. })),
        ("key,type,encoding,value\nns,namespace,,\nk,blob,u8,1\n", 3, |p| matches!(p, CsvProblem::UnknownType { .. })),
        ("key,type,encoding,value\nns,namespace,,\nk,data,U8,1\n", 3, |p| {
            matches!(p, CsvProblem::UnknownEncoding { .. })
        }),
        ("key,type,encoding,value\nns,namespace,,\nk,data,u8,256\n", 3, |p| matches!(p, CsvProblem::Integer { .. })),
        ("key,type,encoding,value\nns,namespace,,\nk,data,hex2bin,abc\n", 3, |p| {
            matches!(p, CsvProblem::Encoding { .. })
        }),
        ("key,type,encoding,value\nns,namespace,,\nk,data,blob_fill(1;0x00),ab\n", 3, |p| {
            matches!(p, CsvProblem::Fill { .. })
        }),
        ("key,type,encoding,value\nns,namespace,,\nk,data,binary,\u{e9}\n", 3, |p| {
            matches!(p, CsvProblem::BinaryNotAscii { .. })
        }),
        ("key,type,encoding,value\nns,namespace,,\nk,file,binary,missing\n", 3, |p| matches!(p, CsvProblem::File { .. })),
        ("key,type,encoding,value\nns,namespace,,\nk,data\n", 3, |p| {
            matches!(p, CsvProblem::MissingField { column: "encoding" })
        }),
        ("key,type,encoding,value\nsixteen_chars_xy,namespace,,\n", 2, |p| matches!(p, CsvProblem::Key(_))),
        ("key,type,encoding,value\nns,namespace,,\nk,data,string,\"open\n", 3, |p| {
            matches!(p, CsvProblem::UnterminatedQuote)
        }),
        ("key,type,encoding,value\nns,namespace,,\nap.ssid,data,string,a\nap.passwd,data,string,b\nap.authmode,data,u8,3\n", 5, |p| {
            matches!(p, CsvProblem::Wifi(WifiError::AccessPointKey))
        }),
    ];
    for (text, line, check) in cases {
        let err = parse(text, no_files).expect_err(text);
        assert_eq!(err.line, line, "{text:?}: {err}");
        assert!(check(&err.problem), "{text:?}: {err}");
    }
}

#[test]
fn station_keys_bring_the_driver_entries_once() {
    let text = "key,type,encoding,value\nnvs.net80211,namespace,,\nsta.ssid,data,blob_fill(32;0x00),line\n\
                sta.pswd,data,blob_fill(64;0x00),secret\n";
    let items = parse(text, no_files).unwrap();
    let keys: Vec<&str> = items
        .iter()
        .filter_map(|i| match i {
            Item::Entry(e) => Some(e.key.as_str()),
            Item::Namespace(_) => None,
        })
        .collect();
    assert_eq!(keys, ["sta.ssid", "sta.apinfo", "sta.pmk", "sta.apsw", "sta.pswd"]);
    let err = parse("key,type,encoding,value\nn,namespace,,\nsta.ssid,file,string,ssid.txt\n", no_files).unwrap_err();
    assert!(matches!(*err.problem, CsvProblem::Wifi(WifiError::StationFromFile { .. })), "{err}");
    let authmode_open = "key,type,encoding,value\nn,namespace,,\nap.ssid,data,string,a\nap.passwd,data,string,b\n\
                         ap.authmode,data,u8,0\n";
    assert_eq!(parse(authmode_open, no_files).unwrap().len(), 4);
}

#[test]
fn mapped_values_replace_the_field_text_and_refusals_name_the_key() {
    let csv = "key,type,encoding,value\nfactory,namespace,,\nserial,data,string,{serial}\ncount,data,u16,{n}\n";
    let items = super::parse_mapped(
        csv,
        |key, value| match value {
            "{serial}" => Ok("FL-00,1\"7".to_owned()),
            "{n}" if key == "count" => Ok("513".to_owned()),
            other => Err(format!("unknown placeholder in {other}")),
        },
        no_files,
    )
    .unwrap();
    assert_eq!(items[1], entry("factory", "serial", Value::Str("FL-00,1\"7".into())));
    assert_eq!(items[2], entry("factory", "count", Value::U16(513)));

    let err = super::parse_mapped(csv, |_, v| Err(format!("no value for {v}")), no_files).unwrap_err();
    assert_eq!(err.line, 3);
    assert_eq!(err.to_string(), "NVS CSV line 3: serial: no value for {serial}");
}
