package io.sparkprom;

import java.util.HashSet;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Bounds the values of one listener label (a job key, a stage key, a failure reason): the first
 * {@code limit} distinct values of the application keep their own value, every later one becomes
 * {@code other} and is counted. Also turns Spark's free text into keys: whitespace collapsed,
 * dates, ids and long numbers masked, at most {@link #MAX_LENGTH} characters.
 */
final class KeyBudget {
    static final String OTHER = "other";
    static final int MAX_LENGTH = 80;

    private static final Pattern DATE = Pattern.compile(
            "\\d{4}-\\d{2}-\\d{2}(?:[T ]\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?(?:Z|[+-]\\d{2}:?\\d{2})?)?");
    /** UUIDs and hex ids: eight or more hex digits, with a digit and a letter among them (all digits is a number). */
    private static final Pattern HEX_ID = Pattern.compile(
            "\\b(?=[0-9a-fA-F-]*\\d)(?=[0-9a-fA-F-]*[a-fA-F])[0-9a-fA-F]{8,}(?:-[0-9a-fA-F]{4,})*\\b");
    /** Three or more digits: run ids, batch numbers, epoch times. One or two name things (q17, step 2). */
    private static final Pattern LONG_NUMBER = Pattern.compile("\\d{3,}");
    /** Every digit run, for free text (descriptions), where even short numbers count up. */
    private static final Pattern ANY_NUMBER = Pattern.compile("\\d+");
    private static final Pattern SPACE = Pattern.compile("\\s+");
    /**
     * A Databricks workflow task's job group: {@code <n>_<n>_job-<job id>-run-<run id>-action-<n>}.
     * The job id tells jobs apart; the run and the rest change every run.
     */
    private static final Pattern DATABRICKS_JOB = Pattern.compile("\\d+_\\d+_job-(\\d+)-run-\\d+(-action-\\d+)?");
    /** A Delta Live Tables pipeline's job group: {@code <n>_<n>_dlt-<pipeline uuid>...}. */
    private static final Pattern DATABRICKS_DLT = Pattern.compile("\\d+_\\d+_dlt-([0-9a-fA-F-]{36})(.*)");

    private final int limit;
    private final Set<String> admitted = new HashSet<String>();
    private long folded;

    KeyBudget(int limit) {
        this.limit = limit;
    }

    /** The key itself while the budget lasts, else {@code other} (and the fold is counted). */
    String admit(String key) {
        if (admitted.contains(key)) {
            return key;
        }
        if (admitted.size() < limit) {
            admitted.add(key);
            return key;
        }
        folded++;
        return OTHER;
    }

    /** Events whose key became {@code other}. */
    long folded() {
        return folded;
    }

    /**
     * A job's key: its job group (dates, ids and numbers of three or more digits masked), else
     * its description (every number masked: descriptions carry batch numbers and row counts),
     * else its call site as Spark shortens it (code locations are finite: kept as they are).
     */
    static String jobKey(Properties properties, String fallback) {
        if (properties != null) {
            String group = properties.getProperty("spark.jobGroup.id");
            if (group != null && !group.trim().isEmpty()) {
                return groupKey(group.trim());
            }
            String description = properties.getProperty("spark.job.description");
            if (description != null && !description.trim().isEmpty()) {
                return clean(ANY_NUMBER, description);
            }
            String callSite = properties.getProperty("callSite.short");
            if (callSite != null && !callSite.trim().isEmpty()) {
                return shorten(callSite);
            }
        }
        return fallback == null || fallback.trim().isEmpty() ? "unknown" : shorten(fallback);
    }

    /**
     * A job group's key: dates, ids and numbers of three or more digits masked, except what
     * names a Databricks workflow job or pipeline, kept so that two of them are two keys (masked
     * whole, every workflow of a workspace was one).
     */
    static String groupKey(String group) {
        java.util.regex.Matcher job = DATABRICKS_JOB.matcher(group);
        if (job.matches()) {
            return shorten("<n>_<n>_job-" + job.group(1) + "-run-<n>" + (job.group(2) == null ? "" : "-action-<n>"));
        }
        java.util.regex.Matcher dlt = DATABRICKS_DLT.matcher(group);
        if (dlt.matches()) {
            return shorten("<n>_<n>_dlt-" + dlt.group(1) + clean(LONG_NUMBER, dlt.group(2)));
        }
        return clean(LONG_NUMBER, group);
    }

    /** A stage's key: its name, which Spark makes from the call site that created it. */
    static String stageKey(String stageName) {
        return stageName == null || stageName.trim().isEmpty() ? "unknown" : shorten(stageName);
    }

    private static String clean(Pattern numbers, String text) {
        String s = DATE.matcher(text).replaceAll("<date>");
        s = HEX_ID.matcher(s).replaceAll("<id>");
        s = numbers.matcher(s).replaceAll("<n>");
        return shorten(s);
    }

    static String shorten(String text) {
        String s = SPACE.matcher(text.trim()).replaceAll(" ");
        return s.length() <= MAX_LENGTH ? s : s.substring(0, MAX_LENGTH - 3) + "...";
    }
}
