package io.sparkprom;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The listener's series: a name, label values in the order native/src/signals.rs declares for
 * that family, and a value. Series are made on first use and live until they are ended (a
 * streaming query's, when it stops) or the application ends; their label values are bounded by
 * {@link KeyBudget}. Each is sent once as a definition with a numeric id, then as id and value in
 * every report, the way registry names are; an ended one is sent once as an end (the core sends
 * its stale marker and gives its slot back) and its id is reused after that.
 *
 * <p>A counter never goes down for the life of the JVM, whatever happens to ids: a series defined
 * again (after a names reset) is defined as one that goes on, not as a new one (the core sends a 0
 * before a new counter's first value); a series made again before its end was sent (a streaming
 * query restarted under its name within one report) takes its place back as if it never ended; a
 * counter made again after its end was sent goes on from its last value (remembered for the
 * {@value #REMEMBERED_ENDS} most recently ended).
 * Not thread-safe: {@link SparkSignals} serialises every call.
 */
final class SignalTable {
    static final byte SIGNAL_DEFINE = 10;
    static final byte SIGNAL_VALUE = 11;
    static final byte SIGNAL_END = 12;
    /** SIGNAL_DEFINE's flag: made at 0 (the core sends a 0 before its first value). */
    static final byte SIGNAL_FLAG_NEW = 1;

    /** Counters' last values kept after their end, to go on from if the series comes back. */
    static final int REMEMBERED_ENDS = 4096;

    private static final class Series {
        final int id;
        final String name;
        final String[] labelValues;
        double value;
        /** The core has its definition (since the last names reset). */
        boolean defined;
        /** Made at its first value (0 for a counter) rather than going on from a remembered one. */
        boolean startsAtZero = true;
        /** Ended before it was ever sent: sent once with the next report, ended with the one after. */
        boolean ending;

        Series(int id, String name, String[] labelValues) {
            this.id = id;
            this.name = name;
            this.labelValues = labelValues;
        }
    }

    private final Map<Key, Series> byKey = new LinkedHashMap<Key, Series>();
    private int nextId;
    /** Ids whose end was sent: free to give out again. */
    private final List<Integer> freeIds = new ArrayList<Integer>();
    /** Series ended since the last report, by key: their ends go out with the next one. */
    private final Map<Key, Series> pendingEnds = new LinkedHashMap<Key, Series>();
    /** Counters' last values after their end was sent, the most recently ended last. */
    private final LinkedHashMap<Key, Double> endedCounters = new LinkedHashMap<Key, Double>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Key, Double> eldest) {
            return size() > REMEMBERED_ENDS;
        }
    };

    /** A series' name and label values, as a map key. */
    private static final class Key {
        final String name;
        final String[] values;
        final int hash;

        Key(String name, String[] values) {
            this.name = name;
            this.values = values;
            this.hash = name.hashCode() * 31 + Arrays.hashCode(values);
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Key)) {
                return false;
            }
            Key k = (Key) o;
            return hash == k.hash && name.equals(k.name) && Arrays.equals(values, k.values);
        }

        @Override
        public int hashCode() {
            return hash;
        }
    }

    private Series series(String name, String[] labelValues) {
        Key key = new Key(name, labelValues);
        Series s = byKey.get(key);
        if (s == null) {
            s = pendingEnds.remove(key);
            if (s == null) {
                int id = freeIds.isEmpty() ? nextId++ : freeIds.remove(freeIds.size() - 1);
                s = new Series(id, name, labelValues);
                Double last = endedCounters.remove(key);
                if (last != null) {
                    s.value = last;
                    s.startsAtZero = false;
                }
            }
            byKey.put(key, s);
        }
        s.ending = false; // in use again
        return s;
    }

    /** Whether a series counts up for its whole life: a counter, or a histogram's series. */
    static boolean cumulative(String name) {
        return name.endsWith("_total") || name.endsWith("_bucket") || name.endsWith("_sum")
                || name.endsWith("_count");
    }

    /**
     * Ends every series of these families (a histogram's by its family name) whose first label
     * value is {@code first}.
     */
    void endSeries(java.util.Set<String> families, String first) {
        for (Series s : byKey.values()) {
            if (families.contains(s.name) && s.labelValues.length > 0 && s.labelValues[0].equals(first)) {
                // Its last value goes with the next report, its end with the one after: an end
                // sent at once would drop what changed since the last report (a query's batch
                // that ended just before the query stopped), and a query shorter than a report
                // period would never show.
                s.ending = true;
            }
        }
    }

    /** Adds to a counter (made at 0 on first use, so `increase()` sees its first step). */
    void add(String name, double delta, String... labelValues) {
        series(name, labelValues).value += delta;
    }

    /** Sets a gauge. */
    void set(String name, double value, String... labelValues) {
        series(name, labelValues).value = value;
    }

    /** Makes a counter exist at 0, so a rule sees it before the first event. */
    void touch(String name, String... labelValues) {
        series(name, labelValues);
    }

    /**
     * One observation of a Prometheus histogram: each `_bucket` whose bound is at least the
     * value, `_sum` and `_count`; `le` is the last label of a bucket.
     */
    void observe(String family, Buckets buckets, double value, String... labelValues) {
        String[] withLe = Arrays.copyOf(labelValues, labelValues.length + 1);
        for (int i = 0; i < buckets.bounds.length; i++) {
            String[] values = withLe.clone();
            values[values.length - 1] = buckets.les[i];
            Series bucket = series(family + "_bucket", values);
            if (value <= buckets.bounds[i]) {
                bucket.value += 1;
            }
        }
        withLe[withLe.length - 1] = "+Inf";
        series(family + "_bucket", withLe).value += 1;
        series(family + "_sum", labelValues).value += value;
        series(family + "_count", labelValues).value += 1;
    }

    /** A histogram's upper bounds and their `le` label values. */
    static final class Buckets {
        final double[] bounds;
        final String[] les;

        Buckets(double... bounds) {
            this.bounds = bounds;
            this.les = new String[bounds.length];
            for (int i = 0; i < bounds.length; i++) {
                // Prometheus' own formatting of le: "0.5", "1", "30".
                les[i] = bounds[i] == Math.rint(bounds[i]) ? Long.toString((long) bounds[i]) : Double.toString(bounds[i]);
            }
        }
    }

    /**
     * The core numbers every series afresh (a names reset): define every live series again. The
     * core ends those it had that are not defined again (so the pending ends need no id), and
     * goes on with the others without a new start.
     */
    void forgetDefinitions() {
        for (Series s : byKey.values()) {
            s.defined = false;
        }
        rememberEnded();
    }

    /** The pending ends are done: remember the counters' values, give the ids back. */
    private void rememberEnded() {
        for (Map.Entry<Key, Series> e : pendingEnds.entrySet()) {
            if (cumulative(e.getValue().name)) {
                endedCounters.put(e.getKey(), e.getValue().value);
            }
            freeIds.add(e.getValue().id);
        }
        pendingEnds.clear();
    }

    int size() {
        return byKey.size();
    }

    /** The value of one series, for checks; NaN when it does not exist. */
    double valueOf(String name, String... labelValues) {
        Series s = byKey.get(new Key(name, labelValues));
        return s == null ? Double.NaN : s.value;
    }

    /**
     * Writes a definition for each series the core does not have and every series' value, in the
     * snapshot format (native/src/snapshot.rs). Nothing is marked as sent until everything is
     * written: a BufferOverflowException leaves the table as it was (the encoder then grows its
     * buffer and resets names, which calls {@link #forgetDefinitions()}).
     */
    void encode(ByteBuffer b) {
        for (Series s : pendingEnds.values()) {
            b.put(SIGNAL_END).putInt(s.id);
        }
        List<Series> defined = new ArrayList<Series>();
        List<Series> lastCalls = new ArrayList<Series>();
        for (Series s : byKey.values()) {
            if (s.ending) {
                lastCalls.add(s);
            }
            if (!s.defined) {
                b.put(SIGNAL_DEFINE).putInt(s.id).put(s.startsAtZero ? SIGNAL_FLAG_NEW : 0);
                putString(b, s.name);
                b.putShort((short) s.labelValues.length);
                for (String v : s.labelValues) {
                    putString(b, v);
                }
                defined.add(s);
            }
            b.put(SIGNAL_VALUE).putInt(s.id).putDouble(s.value);
        }
        // Written whole: now it counts as sent. Ends go before definitions, so an id is given out
        // again only after its end was sent.
        rememberEnded();
        for (Series s : defined) {
            s.defined = true;
        }
        for (Series s : lastCalls) {
            Key key = new Key(s.name, s.labelValues);
            byKey.remove(key);
            pendingEnds.put(key, s);
        }
    }

    /** Label values are bounded by KeyBudget to a few hundred bytes; names are ours. */
    private static void putString(ByteBuffer b, String s) {
        byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
        b.putShort((short) utf8.length);
        b.put(utf8);
    }
}
