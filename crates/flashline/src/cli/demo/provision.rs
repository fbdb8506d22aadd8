//! `flashline demo --provision`: a sample `[provision]` for the simulated boards. The
//! demo writes an NVS template (the official generator's CSV with placeholders) and a
//! per-device file keyed by the simulated boards' MACs (a device id and a pre-shared key
//! each, as a factory's key server would hand them out) into its work directory; every
//! board gets a serial number from the audit log and its own NVS partition at 0x9000.

use std::path::Path;

use flashline_protocol::chip::Mac;

/// The NVS template: the board's serial, MAC and station, and its device row's values.
pub const TEMPLATE: &str = "key,type,encoding,value
factory,namespace,,
serial,data,string,{serial}
serial_no,data,u32,{serial_number}
mac,data,string,{mac_hex}
station,data,string,\"{station}/{slot}\"
device_id,data,string,{device.device_id}
psk,data,hex2bin,{device.psk}
";

/// Where the demo's partition goes (right after the sample's partition table).
pub const NVS_OFFSET: u32 = 0x9000;
pub const NVS_SIZE: u32 = 0x6000;

/// Writes the template and the per-device file for the simulated boards of `macs` into
/// `dir`; returns the config section.
pub fn prepare(dir: &Path, macs: &[Mac]) -> std::io::Result<String> {
    std::fs::create_dir_all(dir)?;
    let template = dir.join("nvs-template.csv");
    let devices = dir.join("devices.csv");
    std::fs::write(&template, TEMPLATE)?;
    std::fs::write(&devices, devices_csv(macs))?;
    Ok(format!(
        "[provision]\nserial = {{ prefix = \"FL-\", start = 1000, width = 6 }}\n\n\
         [provision.nvs]\ntemplate = \"{}\"\ndevices = \"{}\"\ndevice_key = \"mac\"\noffset = {NVS_OFFSET:#x}\n\
         size = {NVS_SIZE:#x}\n",
        template.display(),
        devices.display()
    ))
}

/// One row per simulated board: `mac,device_id,psk`.
pub fn devices_csv(macs: &[Mac]) -> String {
    let mut out = String::from("mac,device_id,psk\n");
    for (k, mac) in (0u32..).zip(macs) {
        let id = format!("dev-{:04}", k + 1);
        // A key that differs per board (a demo's, not a secret).
        let psk: String = (0..16u32).map(|i| format!("{:02x}", (k.wrapping_mul(31) + i * 7) as u8)).collect();
        out.push_str(&format!("{},{id},{psk}\n", flashline_audit::format_mac(mac.0)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision::{DeviceKey, DeviceTable};
    use flashline_protocol::Chip;

    #[test]
    fn every_simulated_board_has_its_row() {
        // A line of two families: every board's MAC has its row.
        let macs: Vec<Mac> = (0..16)
            .map(|k| {
                let chip = if k % 2 == 0 { Chip::Esp32 } else { Chip::Esp32C3 };
                Mac::offset(flashline_sim::default_mac_base(chip), k)
            })
            .collect();
        let csv = devices_csv(&macs);
        let table = DeviceTable::parse(&csv, DeviceKey::Mac).unwrap();
        assert_eq!(table.len(), 16);
        for mac in &macs {
            let mac = flashline_audit::format_mac(mac.0);
            assert!(table.row(&mac).is_some(), "{mac}");
        }
    }
}
