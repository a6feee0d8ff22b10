package io.sparkprom;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/**
 * The sink's properties read on the Java side (the schedule, the identity wait, the flush wait,
 * the listener's switches) with their defaults and bounds, the notation of values, and the blob
 * that carries all properties to the native core (read by {@code native/src/config.rs}). Uses no
 * Spark or logging class: {@code java -jar sparkprom.jar check} runs it with the jar alone.
 */
final class PropertyValues {
    /** Spark's own sinks default to reporting every 10 seconds. */
    static final int DEFAULT_PERIOD = 10;
    /** How long reports wait for a SparkEnv before they go out with what {@link FallbackIdentity} learns. */
    static final String DEFAULT_IDENTITY_TIMEOUT = "60s";
    /** Job keys (and job-and-stage keys) per application before the rest become "other". */
    static final int DEFAULT_LISTENER_MAX_KEYS = 50;
    /** The sink's name ({@code sink.<name>.}) where it is known, so errors name its keys. */
    static final String SINK_NAME = "sparkprom.sinkName";

    private PropertyValues() {}

    /**
     * Every property the Java side reads, checked as the sink checks them.
     *
     * @throws IllegalArgumentException naming the first invalid one
     */
    static void checkJvmProperties(Properties properties) {
        periodMillis(properties);
        flushWaitMillis(properties);
        identityTimeoutMillis(properties);
        listenerEnabled(properties);
        listenerMaxKeys(properties);
        booleanProperty(properties, "failOnConfigError", false);
    }

    /** How long stop() waits for the final flush: {@code flushTimeout} plus 5 s to finish. */
    static long flushWaitMillis(Properties properties) {
        return durationMillis(properties, "flushTimeout", "10s", 0, 600_000) + 5_000;
    }

    static long identityTimeoutMillis(Properties properties) {
        return durationMillis(properties, "identityTimeout", DEFAULT_IDENTITY_TIMEOUT, 1_000, 3_600_000);
    }

    static boolean listenerEnabled(Properties properties) {
        return booleanProperty(properties, "listener.enabled", true);
    }

    static int listenerMaxKeys(Properties properties) {
        return countProperty(properties, "listener.maxKeys", DEFAULT_LISTENER_MAX_KEYS, 1, 10_000);
    }

    /** The properties plus the schedule: the native side's default period for node statistics. */
    static Properties withSchedule(Properties properties, long periodMillis) {
        Properties all = new Properties();
        all.putAll(properties);
        all.setProperty("sparkprom.periodMillis", String.valueOf(periodMillis));
        return all;
    }

    /**
     * What the native core is created with: the properties, the schedule, and what this JVM says
     * about the network (its proxy properties and trusted certificates, {@link JvmNetwork}).
     */
    static Properties forCore(Properties properties, long periodMillis) {
        Properties all = withSchedule(properties, periodMillis);
        JvmNetwork.addTo(all);
        return all;
    }

    /** {@code period} and {@code unit}, Spark's sink convention; at least one second, as Spark requires. */
    static long periodMillis(Properties properties) {
        String periodText = properties.getProperty("period", String.valueOf(DEFAULT_PERIOD)).trim();
        String unitText = properties.getProperty("unit", "SECONDS").trim();
        long period;
        try {
            period = Long.parseLong(periodText);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("sparkprom: invalid sink property 'period': '" + periodText
                    + "' is not a whole number; expected e.g. period=10 (with unit=SECONDS)");
        }
        TimeUnit unit;
        try {
            unit = TimeUnit.valueOf(unitText.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("sparkprom: invalid sink property 'unit': '" + unitText
                    + "'; accepted: MILLISECONDS, SECONDS, MINUTES, HOURS, DAYS");
        }
        long millis = unit.toMillis(period);
        if (millis < 1000) {
            throw new IllegalArgumentException("sparkprom: invalid sink property 'period': " + period + " " + unit
                    + " is shorter than Spark's minimum polling period of 1 second");
        }
        return millis;
    }

    /**
     * A duration property within [min, max] milliseconds, in the notation of every duration
     * property of the native core ({@link #parseDurationMillis}).
     */
    static long durationMillis(Properties properties, String key, String defaultValue, long min, long max) {
        String text = properties.getProperty(key, defaultValue).trim();
        long millis = parseDurationMillis(key, text);
        if (millis < min || millis > max) {
            throw new IllegalArgumentException("sparkprom: invalid sink property '" + key + "': " + text
                    + " is outside " + min / 1000 + "s to " + max / 1000 + "s");
        }
        return millis;
    }

    /** A true/false property (as the native core's parse_bool reads them). */
    static boolean booleanProperty(Properties properties, String key, boolean defaultValue) {
        String text = properties.getProperty(key, String.valueOf(defaultValue)).trim().toLowerCase(Locale.ROOT);
        if (text.equals("true")) {
            return true;
        }
        if (text.equals("false")) {
            return false;
        }
        throw new IllegalArgumentException("sparkprom: invalid sink property '" + key + "': '" + text
                + "'; expected true or false");
    }

    /** A whole-number property within [min, max]. */
    static int countProperty(Properties properties, String key, int defaultValue, int min, int max) {
        String text = properties.getProperty(key, String.valueOf(defaultValue)).trim();
        long value;
        try {
            value = Long.parseLong(text);
        } catch (NumberFormatException e) {
            value = Long.MIN_VALUE;
        }
        if (value < min || value > max) {
            throw new IllegalArgumentException("sparkprom: invalid sink property '" + key + "': '" + text
                    + "'; expected a whole number from " + min + " to " + max);
        }
        return (int) value;
    }

    /**
     * {@code 500ms}, {@code 30s}, {@code 1.5m}, {@code 2min}, {@code 1h}; a bare number is seconds.
     * The same notation as {@code parse_duration} in native/src/config.rs: both are checked
     * against tests/durations.tsv, so change the two together.
     */
    static long parseDurationMillis(String key, String text) {
        int split = 0;
        while (split < text.length() && (Character.isDigit(text.charAt(split)) || text.charAt(split) == '.')) {
            split++;
        }
        String unit = text.substring(split).trim();
        double millisPerUnit = unit.equals("ms") ? 1 : unit.isEmpty() || unit.equals("s") ? 1_000
                : unit.equals("m") || unit.equals("min") ? 60_000 : unit.equals("h") ? 3_600_000 : -1;
        double millis = -1;
        try {
            millis = Double.parseDouble(text.substring(0, split)) * millisPerUnit;
        } catch (NumberFormatException e) {
            // not a number: refused below
        }
        if (millisPerUnit < 0 || millis < 0 || millis > Long.MAX_VALUE / 2) {
            throw new IllegalArgumentException("sparkprom: invalid sink property '" + key + "': '" + text
                    + "' is not a duration; expected e.g. 500ms, 30s, 2m or 1h");
        }
        return Math.round(millis);
    }

    /** The properties as UTF-8 {@code key \0 value \0} pairs: one blob, one JNI argument. */
    static byte[] toBlob(Properties properties) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (String key : properties.stringPropertyNames()) {
            byte[] k = key.getBytes(StandardCharsets.UTF_8);
            byte[] v = properties.getProperty(key).getBytes(StandardCharsets.UTF_8);
            out.write(k, 0, k.length);
            out.write(0);
            out.write(v, 0, v.length);
            out.write(0);
        }
        return out.toByteArray();
    }
}
