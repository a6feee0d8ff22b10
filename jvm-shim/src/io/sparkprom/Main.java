package io.sparkprom;

import java.io.File;
import java.io.IOException;
import java.util.List;
import java.util.Properties;

/**
 * {@code java -jar sparkprom.jar check <file>}: checks every sparkprom sink the file sets up (a
 * metrics.properties, spark-defaults-style lines, a compute policy, an EMR request or a
 * SparkApplication: see {@link MetricsFile}), sends one sample with each and prints what the
 * receiver answered (exit 0 only if every one was accepted). {@code java -jar sparkprom.jar
 * --version [path/to/libsparkprom.so]}: prints the jar's version, every native core it can find
 * (beside the jar, on {@code java.library.path}, in the jar) with the platform each was built
 * for, which one a sink in this JVM would load, and the version of the core it loads: the path
 * given, or else the first that fits this JVM beside the jar, on the path or in the jar. Exits 1
 * when no core fits or loads, when its version differs, or (without a path) when a sink would
 * load none: the check a deployment script can run before the first Spark job. Uses no Spark or
 * logging classes, so it runs with the jar alone.
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        if (args.length >= 1 && args[0].equals("--version")) {
            System.exit(version(args.length > 1 ? args[1] : null));
        }
        if (args.length == 2 && args[0].equals("check")) {
            System.exit(check(args[1]));
        }
        System.out.println("usage: java -jar sparkprom.jar --version [path/to/libsparkprom.so]");
        System.out.println("       java -jar sparkprom.jar check <metrics.properties, spark-defaults.conf, a compute policy or EMR"
                + " request (JSON), a SparkApplication (YAML)>");
        System.exit(2);
    }

    private static int version(String libraryPath) {
        System.out.println("sparkprom jar " + BuildInfo.VERSION);
        System.out.println("this JVM: " + NativeLoader.platform());
        List<NativeLoader.Candidate> everyCore = NativeLoader.searchPath(jarDirectory());
        boolean sinkFindsOne = printCandidates(everyCore);
        boolean loads = loadCore(libraryPath, everyCore);
        if (libraryPath == null && !sinkFindsOne) {
            // What loaded here (beside the jar) is not where a sink looks: it would be off.
            System.out.println("NOT OK: a sink without a 'library' property would find no native core and stay off;"
                    + " use the release jar (it carries the cores), or set library= to the path given here");
            return 1;
        }
        return loads ? 0 : 1;
    }

    /**
     * Loads the core as {@code --version} describes, prints which and its version: false, with
     * the reason printed, when none loads or its version is not the jar's.
     */
    private static boolean loadCore(String libraryPath, List<NativeLoader.Candidate> everyCore) {
        boolean restricted = NativeAccess.restricted();
        NativeLoader.Loaded loaded;
        try {
            loaded = libraryPath != null
                    ? NativeLoader.load(new File(libraryPath).getAbsolutePath(), null)
                    : NativeLoader.loadFirstFitting(everyCore, null);
        } catch (Throwable t) {
            System.out.println("native core: cannot be loaded: " + t);
            if (NativeAccess.refused(t)) {
                System.out.println("this JVM refuses native access: " + NativeAccess.ADVICE);
            }
            return false;
        }
        for (String skipped : loaded.skipped) {
            System.out.println("WARN skipped " + skipped);
        }
        String nativeVersion = NativeCore.version();
        System.out.println("sparkprom native core " + nativeVersion + " (" + loaded.where + ")");
        if (restricted) {
            System.out.println("WARN native access is not enabled (a later JDK will refuse the library): " + NativeAccess.ADVICE);
        }
        if (!BuildInfo.VERSION.equals(nativeVersion)) {
            System.out.println("MISMATCH: the sink refuses to run with this pair; deploy the jar and the .so of one build");
            return false;
        }
        return true;
    }

    /**
     * {@code check <file>}: every sparkprom sink in the file, as each instance gets it, checked as
     * the sink would check it at its start and then sending one sample with its settings from
     * here. 0 only when every sink's sample was accepted.
     */
    private static int check(String path) {
        Properties file;
        try {
            file = MetricsFile.read(path);
        } catch (IOException e) {
            System.out.println("FAIL cannot read " + path + ": " + e);
            return 1;
        } catch (IllegalArgumentException e) {
            System.out.println("FAIL " + path + " is " + e.getMessage());
            return 1;
        }
        List<MetricsFile.Sink> sinks = MetricsFile.sparkpromSinks(file);
        if (sinks.isEmpty()) {
            System.out.println("FAIL no sink with class=" + MetricsFile.SINK_CLASS + " in " + path + ": expected lines such as"
                    + " *.sink.prom.class=" + MetricsFile.SINK_CLASS + " (metrics.properties) or"
                    + " spark.metrics.conf.*.sink.prom.class=" + MetricsFile.SINK_CLASS + " (Spark conf, also in a compute"
                    + " policy, an EMR request or a SparkApplication)");
            return 1;
        }
        System.out.println("sparkprom jar " + BuildInfo.VERSION);
        String library = sinks.get(0).properties.getProperty("library");
        if (!loadCore(library == null || library.trim().isEmpty() ? null : library.trim(),
                NativeLoader.searchPath(jarDirectory()))) {
            System.out.println("FAIL the native core cannot be used (above): the sink would stay off");
            return 1;
        }
        boolean allAccepted = true;
        for (MetricsFile.Sink sink : sinks) {
            System.out.println();
            System.out.println("sink '" + sink.name + "' for instance " + String.join(", ", sink.instances) + ":");
            String report;
            try {
                PropertyValues.checkJvmProperties(sink.properties);
                long period = PropertyValues.periodMillis(sink.properties);
                Properties named = PropertyValues.forCore(sink.properties, period);
                // Errors then name this sink's keys rather than <name>.
                named.setProperty(PropertyValues.SINK_NAME, sink.name);
                report = NativeCore.check(PropertyValues.toBlob(named));
            } catch (IllegalArgumentException invalid) {
                report = "not accepted\nFAIL " + invalid.getMessage();
            }
            String[] lines = report.split("\n", -1);
            for (int i = 1; i < lines.length; i++) {
                System.out.println("  " + lines[i]);
            }
            allAccepted &= lines[0].equals("accepted");
        }
        System.out.println();
        System.out.println(allAccepted ? "OK: every sink's sample was accepted"
                : "NOT OK: fix what the FAIL lines name; the sink would not deliver like this");
        return allAccepted ? 0 : 1;
    }

    /**
     * One line per core found, and the one a sink (which does not look beside the jar) would
     * take: false when there is none.
     */
    private static boolean printCandidates(List<NativeLoader.Candidate> candidates) {
        System.out.println("native cores found, in the order they are tried:");
        NativeLoader.Candidate sinkChoice = null;
        for (NativeLoader.Candidate candidate : candidates) {
            boolean fits = candidate.fitsThisJvm();
            String verdict = fits ? "" : candidate.tried ? " (skipped: not this JVM's)" : " (not tried: named for another platform)";
            System.out.println("  " + candidate.place + ": " + candidate.where() + ": "
                    + NativeLoader.describe(candidate.platform) + verdict);
            if (fits && sinkChoice == null && !candidate.place.equals(NativeLoader.BESIDE_JAR)) {
                sinkChoice = candidate;
            }
        }
        System.out.println("a sink in this JVM without a 'library' property would load: "
                + (sinkChoice == null ? "none (it would stay off)" : sinkChoice.where()));
        return sinkChoice != null;
    }

    /** The directory the jar is in, or null when it cannot be told. */
    private static File jarDirectory() {
        try {
            return new File(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI()).getParentFile();
        } catch (Exception e) {
            return null;
        }
    }
}
