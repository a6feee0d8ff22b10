package io.sparkprom;

import com.codahale.metrics.Counter;
import com.codahale.metrics.Gauge;
import com.codahale.metrics.Histogram;
import com.codahale.metrics.Meter;
import com.codahale.metrics.Metric;
import com.codahale.metrics.MetricRegistry;
import com.codahale.metrics.Snapshot;
import com.codahale.metrics.Timer;
import java.nio.BufferOverflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Packs one registry snapshot into a reused direct buffer, in the format native/src/snapshot.rs
 * decodes (the two define it together). A name is sent once with a numeric id and afterwards as
 * the id alone, so a steady-state report writes no strings and allocates nothing of its own.
 * The ids of names that left the registry are given back and reused, so the id table (here and
 * in the core, which frees a name's series when it leaves) follows the live registry, not its
 * history. Not thread-safe: its owner serialises calls.
 */
final class SnapshotEncoder {
    private static final Logger LOG = LoggerFactory.getLogger(SnapshotEncoder.class);
    private static final byte[] MAGIC = {'S', 'P', 'K', '1'};
    private static final byte FLAG_NAMES_RESET = 1;
    private static final byte DEFINE = 1;
    private static final byte IDENTITY = 2;
    private static final byte GAUGE = 3;
    private static final byte COUNTER = 4;
    private static final byte METER = 5;
    private static final byte HISTOGRAM = 6;
    private static final byte TIMER = 7;
    private static final byte SKIPPED = 8;
    private static final byte READ_FAILED = 9;
    private static final int MAX_STRING = 0xFFFF;

    private ByteBuffer buffer;
    private final Map<String, Slot> ids = new HashMap<String, Slot>();
    private int nextId;
    /** Ids of names that left the registry, to hand out again before new ones. */
    private int[] freeIds = new int[16];
    private int freeCount;
    /** Counts encodings; a slot not seen in the current one has left the registry. */
    private int epoch;
    private int seenThisEpoch;

    /** A name's id and the last encoding that saw it (mutated in place: no allocation per report). */
    private static final class Slot {
        final int id;
        int seen;

        Slot(int id) {
            this.id = id;
        }
    }
    /** The native side must forget earlier ids: set at start and after every reset. */
    private boolean namesReset = true;
    private Map<String, String> identity;
    private boolean identityPending;
    /** The driver's listener series, written after the registry's; null elsewhere. */
    private SparkSignals signals;

    SnapshotEncoder(int initialCapacity) {
        buffer = ByteBuffer.allocateDirect(initialCapacity).order(ByteOrder.LITTLE_ENDIAN);
    }

    ByteBuffer buffer() {
        return buffer;
    }

    /** Sends the identity with the next snapshot if it changed. */
    void setIdentity(Map<String, String> newIdentity) {
        if (newIdentity != null && !newIdentity.equals(identity)) {
            identity = newIdentity;
            identityPending = true;
        }
    }

    /** Sends the listener's series with every snapshot from now on. */
    void setSignals(SparkSignals newSignals) {
        if (newSignals != signals) {
            signals = newSignals;
            if (signals != null) {
                signals.forgetDefinitions();
            }
        }
    }

    /** Forgets every id, so the next snapshot defines all names afresh. */
    void resetNames() {
        if (signals != null) {
            signals.forgetDefinitions();
        }
        ids.clear();
        nextId = 0;
        freeCount = 0;
        namesReset = true;
        identityPending = identity != null;
    }

    /** Encodes the whole registry; returns the number of bytes written from position 0. */
    int encode(MetricRegistry registry, long timestampMillis) {
        while (true) {
            try {
                return encodeOnce(registry, timestampMillis);
            } catch (BufferOverflowException full) {
                // Ids given out during the failed attempt were never sent: start over, larger.
                buffer = ByteBuffer.allocateDirect(buffer.capacity() * 2).order(ByteOrder.LITTLE_ENDIAN);
                resetNames();
            } catch (RuntimeException e) {
                // Reads are guarded one by one (putMetric); anything else that throws leaves
                // definitions given out but never sent: without a reset those names would vanish
                // for the JVM's life.
                resetNames();
                throw e;
            }
        }
    }

    private int encodeOnce(MetricRegistry registry, long timestampMillis) {
        ByteBuffer b = buffer;
        b.clear();
        b.put(MAGIC);
        b.put(namesReset ? FLAG_NAMES_RESET : 0);
        b.putLong(timestampMillis);
        if (identityPending) {
            putIdentity(b);
        }
        epoch++;
        seenThisEpoch = 0;
        for (Map.Entry<String, Metric> entry : registry.getMetrics().entrySet()) {
            putMetric(b, entry.getKey(), entry.getValue());
        }
        if (seenThisEpoch < ids.size()) {
            forgetNamesThatLeft();
        }
        if (signals != null) {
            signals.encode(b);
        }
        namesReset = false;
        identityPending = false;
        return b.position();
    }

    /** The identity pairs; a pair with a string longer than the format's 65,535 bytes is left out. */
    private void putIdentity(ByteBuffer b) {
        int count = 0;
        for (Map.Entry<String, String> e : identity.entrySet()) {
            if (fits(e.getKey()) && fits(e.getValue())) {
                count++;
            }
        }
        b.put(IDENTITY);
        b.putShort((short) count);
        for (Map.Entry<String, String> e : identity.entrySet()) {
            if (fits(e.getKey()) && fits(e.getValue())) {
                putString(b, e.getKey().getBytes(StandardCharsets.UTF_8));
                putString(b, e.getValue().getBytes(StandardCharsets.UTF_8));
            }
        }
    }

    private boolean fits(String s) {
        if (s.getBytes(StandardCharsets.UTF_8).length <= MAX_STRING) {
            return true;
        }
        warnTooLong("an identity field", s);
        return false;
    }

    private boolean warnedTooLong;

    /** Once per encoder: such strings are rare, and the registry is read every period. */
    private void warnTooLong(String what, String s) {
        if (!warnedTooLong) {
            warnedTooLong = true;
            LOG.warn("sparkprom: left out " + what + " longer than " + MAX_STRING + " bytes (it starts '"
                    + s.substring(0, Math.min(80, s.length())) + "'): the snapshot format's strings end there; "
                    + "shorten it (later ones are left out without a line)");
        }
    }

    /** Gives back the ids of names this encoding did not see: they left the registry. */
    private void forgetNamesThatLeft() {
        java.util.Iterator<Slot> slots = ids.values().iterator();
        while (slots.hasNext()) {
            Slot slot = slots.next();
            if (slot.seen != epoch) {
                slots.remove();
                if (freeCount == freeIds.length) {
                    freeIds = java.util.Arrays.copyOf(freeIds, freeCount * 2);
                }
                freeIds[freeCount++] = slot.id;
            }
        }
    }

    /** Names defined so far and still in the registry (for tests and benchmarks). */
    int definedNames() {
        return ids.size();
    }

    private void putMetric(ByteBuffer b, String name, Metric metric) {
        int id = idOf(b, name);
        if (id < 0) {
            return;
        }
        if (metric instanceof Gauge) {
            putGauge(b, id, (Gauge<?>) metric);
            return;
        }
        // Every value is read before anything is written, so a read that throws (a third-party
        // metric, a Histogram whose reservoir fails) leaves the stream whole: that metric is
        // skipped and counted by the core, the rest of the report goes on.
        int start = b.position();
        try {
            if (metric instanceof Counter) {
                long count = ((Counter) metric).getCount();
                b.put(COUNTER).putInt(id).putLong(count);
            } else if (metric instanceof Histogram) {
                Histogram h = (Histogram) metric;
                putSampling(b, HISTOGRAM, id, h.getCount(), h.getSnapshot());
            } else if (metric instanceof Timer) {
                Timer t = (Timer) metric;
                putSampling(b, TIMER, id, t.getCount(), t.getSnapshot());
            } else if (metric instanceof Meter) {
                long count = ((Meter) metric).getCount();
                b.put(METER).putInt(id).putLong(count);
            }
        } catch (java.nio.BufferOverflowException full) {
            throw full;
        } catch (Throwable t) {
            b.position(start);
            b.put(READ_FAILED).putInt(id);
            warnReadFailed(name, t);
        }
    }

    private boolean warnedReadFailed;

    /** Once per encoder: the core counts every such reading in sparkprom_metric_reads_failed_total. */
    private void warnReadFailed(String name, Throwable t) {
        if (!warnedReadFailed) {
            warnedReadFailed = true;
            LOG.warn("sparkprom: reading the metric '" + name + "' threw " + t + "; it is skipped in each report where"
                    + " that happens and counted in sparkprom_metric_reads_failed_total (later ones are not logged)."
                    + " The metric's source is at fault: report it to whoever registers it.");
        }
    }

    /** The name's id, writing its definition first when it is new; -1 for an unusable name. */
    private int idOf(ByteBuffer b, String name) {
        Slot known = ids.get(name);
        if (known != null) {
            if (known.seen != epoch) {
                known.seen = epoch;
                seenThisEpoch++;
            }
            return known.id;
        }
        byte[] utf8 = name.getBytes(StandardCharsets.UTF_8);
        if (utf8.length > MAX_STRING) {
            warnTooLong("a metric name", name);
            return -1;
        }
        int id = freeCount > 0 ? freeIds[--freeCount] : nextId++;
        b.put(DEFINE).putInt(id);
        putString(b, utf8);
        Slot slot = new Slot(id);
        slot.seen = epoch;
        seenThisEpoch++;
        ids.put(name, slot);
        return id;
    }

    private static void putGauge(ByteBuffer b, int id, Gauge<?> gauge) {
        // The boxed value never leaves the try block and no variable holds it on two paths, so
        // the JIT can drop the box (escape analysis): a gauge costs no heap allocation here.
        double value = 0;
        boolean usable = false;
        try {
            Object v = gauge.getValue();
            if (v instanceof Number) {
                value = ((Number) v).doubleValue();
                usable = true;
            } else if (v instanceof Boolean) {
                value = ((Boolean) v) ? 1.0 : 0.0;
                usable = true;
            }
        } catch (Throwable t) {
            // One broken gauge must not cost the rest of the report.
        }
        if (usable) {
            b.put(GAUGE).putInt(id).putDouble(value);
        } else {
            b.put(SKIPPED).putInt(id);
        }
    }

    private static void putSampling(ByteBuffer b, byte tag, int id, long count, Snapshot s) {
        double median = s.getMedian();
        double p75 = s.get75thPercentile();
        double p95 = s.get95thPercentile();
        double p98 = s.get98thPercentile();
        double p99 = s.get99thPercentile();
        double p999 = s.get999thPercentile();
        b.put(tag).putInt(id).putLong(count);
        b.putDouble(median).putDouble(p75).putDouble(p95).putDouble(p98).putDouble(p99).putDouble(p999);
    }

    private static void putString(ByteBuffer b, byte[] utf8) {
        if (utf8.length > MAX_STRING) {
            // An unchecked (short) length would desynchronise the whole stream.
            throw new IllegalArgumentException("a string of " + utf8.length + " bytes does not fit the snapshot format");
        }
        b.putShort((short) utf8.length);
        b.put(utf8);
    }
}
