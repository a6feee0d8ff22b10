package io.sparkprom;

import java.io.File;
import java.util.List;

/**
 * {@code java -jar sparkprom.jar --version [path/to/libsparkprom.so]}: prints the jar's version,
 * every native core it can find (beside the jar, on {@code java.library.path}, in the jar) with the
 * platform each was built for, which one a sink in this JVM would load, and the version of the
 * core it loads: the path given, or else the first that fits this JVM beside the jar, on the path
 * or in the jar. Exits 1 when no core fits or loads, or when its version differs: the check a
 * deployment script can run before the first Spark job. Uses no Spark or logging classes, so it
 * runs with the jar alone.
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        if (args.length == 0 || !args[0].equals("--version")) {
            System.out.println("usage: java -jar sparkprom.jar --version [path/to/libsparkprom.so]");
            System.exit(2);
        }
        System.out.println("sparkprom jar " + BuildInfo.VERSION);
        System.out.println("this JVM: " + NativeLoader.platform());
        List<NativeLoader.Candidate> everyCore = NativeLoader.searchPath(jarDirectory());
        printCandidates(everyCore);
        NativeLoader.Loaded loaded;
        try {
            loaded = args.length > 1
                    ? NativeLoader.load(new File(args[1]).getAbsolutePath(), null)
                    : NativeLoader.loadFirstFitting(everyCore, null);
        } catch (Throwable t) {
            System.out.println("native core: cannot be loaded: " + t);
            System.exit(1);
            return;
        }
        for (String skipped : loaded.skipped) {
            System.out.println("WARN skipped " + skipped);
        }
        String nativeVersion = NativeCore.version();
        System.out.println("sparkprom native core " + nativeVersion + " (" + loaded.where + ")");
        if (!BuildInfo.VERSION.equals(nativeVersion)) {
            System.out.println("MISMATCH: the sink refuses to run with this pair; deploy the jar and the .so of one build");
            System.exit(1);
        }
    }

    /** One line per core found, and the one a sink (which does not look beside the jar) would take. */
    private static void printCandidates(List<NativeLoader.Candidate> candidates) {
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
