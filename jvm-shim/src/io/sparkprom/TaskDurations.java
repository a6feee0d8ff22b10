package io.sparkprom;

/**
 * The durations of one stage attempt's successful tasks, in constant space whatever the task
 * count: a log-scale count per 1/8 octave (about 9% wide) for the median, the exact maximum, and
 * the counts of {@link SparkSignals#TASK_DURATION_BUCKETS} for the task-duration histogram.
 */
final class TaskDurations {
    private static final int STEPS_PER_OCTAVE = 8;
    /** 2^(256/8) ms is 50 days: no task runs longer. */
    private final int[] logCounts = new int[256];
    private final long[] histogram;
    private final double[] bounds;
    private long count;
    private long maxMillis;
    private double sumSeconds;

    TaskDurations(SignalTable.Buckets buckets) {
        this.bounds = buckets.bounds;
        this.histogram = new long[bounds.length];
    }

    void add(long millis) {
        long ms = Math.max(0, millis);
        count++;
        maxMillis = Math.max(maxMillis, ms);
        sumSeconds += ms / 1000.0;
        logCounts[slot(ms)]++;
        double seconds = ms / 1000.0;
        for (int i = 0; i < bounds.length; i++) {
            if (seconds <= bounds[i]) {
                histogram[i]++;
            }
        }
    }

    private static int slot(long ms) {
        if (ms <= 0) {
            return 0;
        }
        int s = (int) (Math.log(ms + 1) / Math.log(2) * STEPS_PER_OCTAVE);
        return Math.min(s, 255);
    }

    long count() {
        return count;
    }

    long maxMillis() {
        return maxMillis;
    }

    double sumSeconds() {
        return sumSeconds;
    }

    /** Tasks at or under the i-th bound of the histogram's buckets. */
    long atOrUnder(int i) {
        return histogram[i];
    }

    /** The median duration, to about 9%: the middle of the slot that holds the middle task. */
    double medianMillis() {
        long half = (count + 1) / 2;
        long seen = 0;
        for (int s = 0; s < logCounts.length; s++) {
            seen += logCounts[s];
            if (seen >= half) {
                double low = Math.pow(2, s / (double) STEPS_PER_OCTAVE) - 1;
                double high = Math.pow(2, (s + 1) / (double) STEPS_PER_OCTAVE) - 1;
                return (low + high) / 2;
            }
        }
        return 0;
    }

    /** Longest task over the median; tasks under a millisecond count as one. */
    double skewRatio() {
        return Math.max(1.0, maxMillis / Math.max(1.0, medianMillis()));
    }
}
