package io.sparkprom;

import static io.sparkprom.Checks.check;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Properties;

/**
 * Unit checks of the Java side's own logic, without Spark or the native core: the recovery of
 * dotted properties from an instance's metrics properties, the schedule properties and the
 * properties blob. Prints one line per check and exits non-zero if any failed.
 */
public final class SinkPropertiesCheck {
    public static void main(String[] args) {
        check("a sink's dotted properties are found by its dot-free ones", () -> {
            Properties instance = props("sink.prom.class", "io.sparkprom.RemoteWriteSink", "sink.prom.url", "http://a",
                    "sink.prom.sigv4.region", "eu-west-1", "sink.prom.tls.caFile", "/ca.pem",
                    "sink.other.class", "x.Other", "sink.other.url", "http://b", "sink.other.node.enabled", "false");
            Map<String, String> dotted = SinkProperties.dottedPropertiesOf(
                    props("class", "io.sparkprom.RemoteWriteSink", "url", "http://a"), instance);
            return dotted != null && dotted.size() == 2 && "eu-west-1".equals(dotted.get("sigv4.region"))
                    && "/ca.pem".equals(dotted.get("tls.caFile"));
        });
        check("two sinks that look alike but differ in dotted properties give none", () -> {
            Properties instance = props("sink.a.class", "C", "sink.a.url", "u", "sink.a.sigv4.region", "r1",
                    "sink.b.class", "C", "sink.b.url", "u", "sink.b.sigv4.region", "r2");
            return SinkProperties.dottedPropertiesOf(props("class", "C", "url", "u"), instance) == null;
        });
        check("no sink with exactly these dot-free properties gives none", () -> {
            Properties instance = props("sink.a.class", "C", "sink.a.url", "u", "sink.a.period", "5",
                    "sink.a.sigv4.region", "r1");
            return SinkProperties.dottedPropertiesOf(props("class", "C", "url", "u"), instance) == null;
        });
        check("a standalone daemon's sink takes the dotted properties of its own instance", () -> {
            // A master's JVM: no SparkEnv, Spark's configuration from the spark.* system properties.
            String[][] conf = {{"spark.metrics.conf.*.sink.p.class", "io.sparkprom.RemoteWriteSink"},
                {"spark.metrics.conf.*.sink.p.url", "http://u"}, {"spark.metrics.conf.*.sink.p.sigv4.region", "eu-west-1"},
                {"spark.metrics.conf.master.sink.p.sigv4.roleArn", "arn:aws:iam::1:role/master"}};
            for (String[] pair : conf) {
                System.setProperty(pair[0], pair[1]);
            }
            try {
                Properties own = props("class", "io.sparkprom.RemoteWriteSink", "url", "http://u");
                String command = "org.apache.spark.deploy.master.Master --host h --port 7077";
                Properties master = SinkProperties.complete(own, null, SinkProperties.instanceOf(null,
                        java.util.Arrays.asList("CodeGenerator.compilationTime", "master.aliveWorkers"), command));
                Properties applications = SinkProperties.complete(own, null, SinkProperties.instanceOf(null,
                        java.util.Arrays.asList("CodeGenerator.compilationTime"), command));
                Properties worker = SinkProperties.complete(own, null, SinkProperties.instanceOf(null,
                        java.util.Arrays.asList("worker.coresUsed"), "org.apache.spark.deploy.worker.Worker"));
                return "arn:aws:iam::1:role/master".equals(master.getProperty("sigv4.roleArn"))
                        && "eu-west-1".equals(master.getProperty("sigv4.region"))
                        && applications.getProperty("sigv4.roleArn") == null
                        && "eu-west-1".equals(worker.getProperty("sigv4.region"))
                        && worker.getProperty("sigv4.roleArn") == null;
            } finally {
                for (String[] pair : conf) {
                    System.clearProperty(pair[0]);
                }
            }
        });
        check("the identity WARN says when it gave up: at the last report, or after identityTimeout", () -> {
            JvmIdentity early = new JvmIdentity(() -> null, new com.codahale.metrics.MetricRegistry(), 60_000);
            boolean waits = early.forReport(false) == null;
            early.forReport(true);
            JvmIdentity late = new JvmIdentity(() -> null, new com.codahale.metrics.MetricRegistry(), 1_000);
            Thread.sleep(1_100);
            late.forReport(false);
            System.out.println("  " + early.gaveUp() + " / " + late.gaveUp());
            return waits && early.gaveUp().startsWith("at the sink's last report, ")
                    && early.gaveUp().contains("before identityTimeout, 60 s") && !early.gaveUp().contains("after 60 s")
                    && late.gaveUp().equals("after 1 s (identityTimeout)");
        });
        check("period defaults to 10 seconds", () -> PropertyValues.periodMillis(new Properties()) == 10_000);
        check("period and unit are read together", () ->
                PropertyValues.periodMillis(props("period", " 2 ", "unit", "minutes")) == 120_000);
        check("a period under a second is refused naming 'period'", () ->
                refused(() -> PropertyValues.periodMillis(props("period", "500", "unit", "MILLISECONDS")), "'period'"));
        check("a period that is not a number is refused naming 'period'", () ->
                refused(() -> PropertyValues.periodMillis(props("period", "ten")), "'period'"));
        check("an unknown unit is refused naming 'unit'", () ->
                refused(() -> PropertyValues.periodMillis(props("unit", "fortnights")), "'unit'"));
        check("identityTimeout takes ms, s, m, h and bare seconds", () ->
                timeout("1500ms") == 1_500 && timeout("2m") == 120_000 && timeout("30") == 30_000
                        && timeout("1h") == 3_600_000 && PropertyValues.durationMillis(new Properties(),
                                "identityTimeout", "60s", 1_000, 3_600_000) == 60_000);
        check("the JVM's truststore is read when named, or when a CA was imported into the JDK's own", () -> {
            java.nio.file.Path home = java.nio.file.Files.createTempDirectory("jdk");
            java.nio.file.Path security = java.nio.file.Files.createDirectories(home.resolve("lib/security"));
            java.nio.file.Path cacerts = java.nio.file.Files.createFile(security.resolve("cacerts"));
            java.nio.file.Path release = java.nio.file.Files.createFile(home.resolve("release"));
            java.nio.file.attribute.FileTime installed = java.nio.file.attribute.FileTime.fromMillis(1_700_000_000_000L);
            java.nio.file.Files.setLastModifiedTime(release, installed);
            java.nio.file.Files.setLastModifiedTime(cacerts, installed);
            boolean asInstalled = !JvmNetwork.trustWorthReading(null, home.toString());
            boolean named = JvmNetwork.trustWorthReading("/etc/pki/corp.p12", home.toString());
            java.nio.file.Files.setLastModifiedTime(cacerts, java.nio.file.attribute.FileTime.fromMillis(1_700_000_600_000L));
            boolean imported = JvmNetwork.trustWorthReading(null, home.toString());
            boolean osCopy = true;
            java.nio.file.Path etc = java.nio.file.Paths.get("/etc/ssl/certs/java/cacerts");
            if (java.nio.file.Files.exists(etc)) {
                java.nio.file.Files.delete(cacerts);
                java.nio.file.Files.createSymbolicLink(cacerts, etc);
                osCopy = !JvmNetwork.trustWorthReading(null, home.toString());
            }
            return asInstalled && named && imported && osCopy;
        });
        check("durations read as tests/durations.tsv says (the native core's test reads it too)", () -> {
            int cases = 0;
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Paths.get(args[0]), StandardCharsets.UTF_8)) {
                if (line.startsWith("#")) {
                    continue;
                }
                String[] parts = line.split("\t", -1);
                String value = parts[0];
                String expected = parts[1];
                boolean ok = expected.equals("error")
                        ? refused(() -> PropertyValues.parseDurationMillis("t", value), "'t'")
                        : PropertyValues.parseDurationMillis("t", value) == Long.parseLong(expected);
                if (!ok) {
                    System.out.println("  '" + value + "' should be " + expected);
                    return false;
                }
                cases++;
            }
            return cases > 20;
        });
        check("identityTimeout outside 1s to 1h is refused naming it", () ->
                refused(() -> timeout("500ms"), "'identityTimeout'") && refused(() -> timeout("2h"), "'identityTimeout'")
                        && refused(() -> timeout("soon"), "'identityTimeout'"));
        check("the blob is key NUL value NUL, UTF-8", () -> {
            byte[] blob = PropertyValues.toBlob(props("labels", "team=é"));
            return new String(blob, StandardCharsets.UTF_8).equals("labels\0team=é\0");
        });
        check("the schedule rides along in the blob", () -> "20000".equals(
                PropertyValues.withSchedule(props("url", "u"), 20_000).getProperty("sparkprom.periodMillis")));
        check("strings over 65,535 bytes are left out and the stream stays whole", () -> {
            StringBuilder huge = new StringBuilder();
            while (huge.length() <= 0xFFFF) {
                huge.append("spark.");
            }
            Map<String, String> identity = new java.util.LinkedHashMap<String, String>();
            identity.put("spark.app.id", "app-1");
            identity.put("spark.app.name", huge.toString());
            com.codahale.metrics.MetricRegistry registry = new com.codahale.metrics.MetricRegistry();
            registry.counter("app-1.driver.ok").inc();
            registry.counter(huge.toString()).inc();
            SnapshotEncoder encoder = new SnapshotEncoder(1 << 20);
            encoder.setIdentity(identity);
            int length = encoder.encode(registry, 1L);
            java.nio.ByteBuffer b = encoder.buffer();
            // Header (13 bytes), then the identity record: tag 2 and one pair, the short one.
            String text = new String(bytes(b, length), StandardCharsets.ISO_8859_1);
            return b.get(13) == 2 && b.getShort(14) == 1 && length < 1000 && text.contains("app-1.driver.ok");
        });
        Checks.finish("sink properties");
    }

    private static byte[] bytes(java.nio.ByteBuffer b, int length) {
        byte[] out = new byte[length];
        for (int i = 0; i < length; i++) {
            out[i] = b.get(i);
        }
        return out;
    }

    private static long timeout(String value) {
        return PropertyValues.durationMillis(props("identityTimeout", value), "identityTimeout", "60s", 1_000,
                3_600_000);
    }

    private static boolean refused(Runnable call, String naming) {
        try {
            call.run();
            return false;
        } catch (IllegalArgumentException e) {
            return e.getMessage().contains(naming);
        }
    }

    private static Properties props(String... keysAndValues) {
        Properties p = new Properties();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            p.setProperty(keysAndValues[i], keysAndValues[i + 1]);
        }
        return p;
    }
}
