package dev.tollgate.bench.load;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;

/**
 * Direct-vs-Tollgate load, measured in one run on one machine: the simulator (instant and realistic
 * profiles) and Tollgate (metering and settlement on) run as child processes; the same workload goes to the
 * simulator directly and through Tollgate, alternating, and the results are written to
 * {@code benchmarks/RESULTS.md} as ratios.
 *
 * <p>Usage: {@code java -cp benchmarks/target/benchmarks.jar dev.tollgate.bench.load.LoadHarness [--quick]
 * [--jar proxy/target/tollgate.jar] [--out benchmarks/RESULTS-load.md]}
 */
public final class LoadHarness {
    private static final String KEY = "sk-bench";
    private static final String CHAT = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"hi\"}],\"max_tokens\":%d%s}";

    private LoadHarness() {
    }

    public static void main(String[] args) throws Exception {
        boolean quick = List.of(args).contains("--quick");
        Path jar = Path.of(arg(args, "--jar", "proxy/target/tollgate.jar"));
        Path out = Path.of(arg(args, "--out", "benchmarks/RESULTS-load.md"));
        Report report = new Report(quick);
        nonStreaming(jar, quick, report);
        streaming(jar, quick, report);
        Files.writeString(out, report.render(String.join(" ", args)), StandardCharsets.UTF_8);
        System.out.println("wrote " + out);
    }

    private static String arg(String[] args, String name, String dflt) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return dflt;
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /** A simulator and a Tollgate in front of it, both child processes. */
    record Pair(ChildProcess sim, int simPort, ChildProcess proxy, int proxyPort, int adminPort) implements AutoCloseable {
        @Override
        public void close() {
            proxy.close();
            sim.close();
        }
    }

    static Pair start(Path jar, long ttftMs, long tps) throws IOException {
        int simPort = freePort();
        ChildProcess sim = ChildProcess.start(jar, "tollgate simulate:", "simulate", "--listen", "127.0.0.1:" + simPort,
                "--ttft-ms", String.valueOf(ttftMs), "--tokens-per-second", String.valueOf(tps));
        Path dir = Files.createTempDirectory("tollgate-bench-");
        int port = freePort();
        int admin = freePort();
        Path cfg = dir.resolve("tollgate.yaml");
        Files.writeString(cfg, String.join("\n",
                "listen: 127.0.0.1:" + port,
                "admin: 127.0.0.1:" + admin,
                "grpc: \"off\"",
                "data_dir: " + dir.resolve("data"),
                "upstreams: [{name: sim, url: \"http://127.0.0.1:" + simPort + "/v1\", worker: ag_worker}]",
                "api_keys: [{sha256: " + sha256(KEY) + ", account: ag_payer}]",
                "limits: {metering_queue: 262144}",
                "settlement:",
                "  prices: {\"*\": {prompt_per_million: \"0.15\", completion_per_million: \"0.60\"}}",
                "  accounts:",
                "    ag_payer: {policy: stream_budget, fund: \"1000000.00\", budget: \"1000.00\", batch_calls: 1000, "
                        + "batch_seconds: 5}",
                ""));
        ChildProcess proxy = ChildProcess.start(jar, "tollgate: proxy on", "serve", "--config", cfg.toString());
        return new Pair(sim, simPort, proxy, port, admin);
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void nonStreaming(Path jar, boolean quick, Report report) throws Exception {
        int[] ladder = quick ? new int[] {500, 2000, 4000} : new int[] {500, 1000, 2000, 4000, 6000, 8000, 12000};
        double seconds = quick ? 3 : 6;
        byte[] body = String.format(CHAT, 8, "").getBytes(StandardCharsets.UTF_8);
        try (Pair p = start(jar, 0, 0);
             LoadClient direct = new LoadClient("127.0.0.1", p.simPort(), null);
             LoadClient through = new LoadClient("127.0.0.1", p.proxyPort(), "Bearer " + KEY)) {
            // Warm both paths (JIT) before measuring.
            direct.openLoop("/v1/chat/completions", body, 1000, 2, 64);
            through.openLoop("/v1/chat/completions", body, 1000, 2, 64);
            boolean directSaturated = false;
            boolean throughSaturated = false;
            for (int rate : ladder) {
                LoadClient.Result d = directSaturated ? null : direct.openLoop("/v1/chat/completions", body, rate, seconds, 256);
                LoadClient.Result t = throughSaturated ? null
                        : through.openLoop("/v1/chat/completions", body, rate, seconds, 256);
                report.ladder(rate, d, t);
                directSaturated |= d != null && saturated(d, rate);
                throughSaturated |= t != null && saturated(t, rate);
                if (directSaturated && throughSaturated) {
                    break;
                }
            }
            int half = (int) Math.max(100, report.maxRate(true) / 2);
            LoadClient.Result d = direct.openLoop("/v1/chat/completions", body, half, seconds * 2, 256);
            double cpu0 = p.proxy().cpuSeconds();
            LoadClient.Result t = through.openLoop("/v1/chat/completions", body, half, seconds * 2, 256);
            double cpu = p.proxy().cpuSeconds() - cpu0;
            report.halfRate(half, d, t, cpu / t.seconds);
            report.overhead = scrape(p.adminPort());
        }
    }

    static boolean saturated(LoadClient.Result r, int rate) {
        return r.achievedRate() < 0.9 * rate || r.errors.get() > r.sent / 100
                || r.latency.getValueAtPercentile(99) > 1_000_000_000L;
    }

    private static void streaming(Path jar, boolean quick, Report report) throws Exception {
        int[] ns = quick ? new int[] {100, 300} : new int[] {100, 500, 1000};
        double seconds = quick ? 6 : 12;
        byte[] body = String.format(CHAT, 100, ",\"stream\":true").getBytes(StandardCharsets.UTF_8);
        try (Pair p = start(jar, 50, 50);
             LoadClient direct = new LoadClient("127.0.0.1", p.simPort(), null);
             LoadClient through = new LoadClient("127.0.0.1", p.proxyPort(), "Bearer " + KEY)) {
            through.streams("/v1/chat/completions", body, 20, 3);
            long idleRss = p.proxy().rssKib();
            for (int n : ns) {
                LoadClient.Result d = direct.streams("/v1/chat/completions", body, n, seconds);
                double cpu0 = p.proxy().cpuSeconds();
                long[] peakRss = {0};
                Thread sampler = new Thread(() -> {
                    long stop = System.nanoTime() + (long) (seconds * 1e9);
                    while (System.nanoTime() < stop) {
                        peakRss[0] = Math.max(peakRss[0], p.proxy().rssKib());
                        try {
                            Thread.sleep(200);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                });
                sampler.start();
                LoadClient.Result t = through.streams("/v1/chat/completions", body, n, seconds);
                sampler.join();
                double cpu = p.proxy().cpuSeconds() - cpu0;
                report.streams(n, d, t, cpu / t.seconds, idleRss, peakRss[0]);
            }
            report.streamOverhead = scrape(p.adminPort());
        }
    }

    /** Tollgate's own overhead histogram (total minus upstream time) from its /metrics. */
    static List<String[]> scrape(int admin) throws Exception {
        String text = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + admin + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
        List<String[]> buckets = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.startsWith("tollgate_overhead_seconds_bucket{le=\"")) {
                String le = line.substring(line.indexOf('"') + 1, line.lastIndexOf('"'));
                buckets.add(new String[] {le, line.substring(line.lastIndexOf(' ') + 1)});
            }
        }
        return buckets;
    }

    static String ms(long nanos) {
        return String.format(Locale.ROOT, "%.3f", nanos / 1e6);
    }
}
