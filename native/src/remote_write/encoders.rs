//! One encoder per message, kept between requests (their buffers are reused), and the one place
//! that picks the encoder for a message: the sender thread's batches and `check`'s probe go
//! through it alike.

use std::sync::Arc;

use super::client::Version;
use super::encode::RequestEncoder;
use super::encode_otlp::RequestEncoderOtlp;
use super::encode_v2::RequestEncoderV2;
use crate::sample::{Family, Sample};

#[derive(Default)]
pub struct Encoders {
    v1: RequestEncoder,
    v2: RequestEncoderV2,
    otlp: RequestEncoderOtlp,
}

impl Encoders {
    /// `batch` as a request body in `version` and its size before compression; `families`'
    /// metadata rides along in 1.0 (2.0 and OTLP carry each series' own inline).
    pub fn encode(
        &mut self,
        version: Version,
        batch: &[Sample],
        families: &[Arc<Family>],
    ) -> Result<(&[u8], usize), String> {
        match version {
            Version::V1 => self.v1.encode(batch, families).map_err(|e| e.to_string()),
            Version::V2 => self.v2.encode(batch).map_err(|e| e.to_string()),
            Version::Otlp => self.otlp.encode(batch).map_err(|e| e.to_string()),
        }
    }
}
