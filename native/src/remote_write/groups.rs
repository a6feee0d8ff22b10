//! A batch's samples grouped by series, in order of each series' first sample: every encoder
//! writes one `TimeSeries` per group. The groups keep their memory between requests.

use std::collections::HashMap;
use std::sync::Arc;

use crate::sample::{Sample, Series};

#[derive(Default)]
pub struct SeriesGroups {
    /// Only the first `used` entries belong to the current batch; the rest keep their memory.
    groups: Vec<Group>,
    /// Series address -> index in `groups`.
    group_of: HashMap<usize, usize>,
}

#[derive(Default)]
pub struct Group {
    pub series: Option<Arc<Series>>,
    /// (timestamp, value) in batch order.
    pub samples: Vec<(i64, f64)>,
}

impl SeriesGroups {
    /// Groups `batch` (samples in queue order, so per series in timestamp order) and returns
    /// the groups. Take each group's series out as it is written, so that no series is kept
    /// alive past its request.
    pub fn group(&mut self, batch: &[Sample]) -> &mut [Group] {
        self.group_of.clear();
        let mut used = 0;
        for sample in batch {
            let key = Arc::as_ptr(&sample.series) as usize;
            let index = *self.group_of.entry(key).or_insert_with(|| {
                used += 1;
                used - 1
            });
            if index == self.groups.len() {
                self.groups.push(Group::default());
            }
            let group = &mut self.groups[index];
            if group.series.is_none() {
                group.series = Some(Arc::clone(&sample.series));
                group.samples.clear();
            }
            group.samples.push((sample.timestamp_ms, sample.value));
        }
        &mut self.groups[..used]
    }
}
