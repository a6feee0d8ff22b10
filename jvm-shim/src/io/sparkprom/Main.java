package io.sparkprom;

import java.io.File;

/**
 * {@code java -jar sparkprom.jar --version [path/to/libsparkprom.so]}: prints the jar's version
 * and the native core's, loaded from the path given, or else from the jar's own directory, or
 * else as the sink would (java.library.path, then the copy inside the jar). Exits 1 when the
 * core cannot be loaded or its version differs: the check a deployment script can run before the
 * first Spark job. Uses no Spark or logging classes, so it runs with the jar alone.
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        if (args.length == 0 || !args[0].equals("--version")) {
            System.out.println("usage: java -jar sparkprom.jar --version [path/to/libsparkprom.so]");
            System.exit(2);
        }
        System.out.println("sparkprom jar " + BuildInfo.VERSION);
        String where;
        try {
            String explicit = args.length > 1 ? new File(args[1]).getAbsolutePath() : besideJar();
            where = NativeLoader.load(explicit, null);
        } catch (Throwable t) {
            System.out.println("native core: cannot be loaded: " + t);
            System.exit(1);
            return;
        }
        String nativeVersion = NativeCore.version();
        System.out.println("sparkprom native core " + nativeVersion + " (" + where + ")");
        if (!BuildInfo.VERSION.equals(nativeVersion)) {
            System.out.println("MISMATCH: the sink refuses to run with this pair; deploy the jar and the .so of one build");
            System.exit(1);
        }
    }

    /** The library beside the jar, when there is one; else null (then the usual search). */
    private static String besideJar() {
        try {
            File jar = new File(Main.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            File beside = new File(jar.getParentFile(), NativeLoader.FILE_NAME);
            return beside.isFile() ? beside.getAbsolutePath() : null;
        } catch (Exception e) {
            return null;
        }
    }
}
