package io.sparkprom;

/**
 * The small runner the Java checks share: one line per check ("ok" or "FAILED" and its name),
 * then a summary line, and the JVM's exit status says whether all passed.
 */
final class Checks {
    private static int failed;

    private Checks() {}

    interface Check {
        boolean run() throws Exception;
    }

    static void check(String name, Check check) {
        boolean ok;
        try {
            ok = check.run();
        } catch (Throwable t) {
            System.out.println("  threw " + t);
            ok = false;
        }
        System.out.println((ok ? "ok     " : "FAILED ") + name);
        if (!ok) {
            failed++;
        }
    }

    /** Prints "<what>: all checks passed" or how many failed, and exits accordingly. */
    static void finish(String what) {
        System.out.println(failed == 0 ? what + ": all checks passed" : what + ": " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
