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
import java.util.Arrays;
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
 * [--jar proxy/target/tollgate.jar] [--out benchmarks/RESULTS-load.md] [--only ladder|streaming]
 * [--policy stream_budget|per_request|none] [--streams 300,1000] [--stream-seconds 12] [--tokens 100] [--pin]}.
 * {@code --pin} puts Tollgate on cpu 1 and the simulator and the load client on cpu 0 (taskset), so that Tollgate
 * has a core of its own and the load side shares the other in the direct and the through runs alike. {@code --policy none} is
 * the open proxy (metering on, settlement off); {@code --only streaming --streams 1000} reproduces one step alone.
 * Streams carry exactly {@code --tokens} completion tokens (default 100; 0 lets the simulator pick 8-64 by its
 * seed, as runs before this option did).
 *
 * <p>Threading: the main thread drives the runs; each {@link LoadClient} runs on its own single event loop.
 */
public final class LoadHarness {
    private static final String KEY = "sk-bench";
    private static final String CHAT = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"hi\"}],\"max_tokens\":%d%s}";

    private static boolean pin;

    private LoadHarness() {
    }

    public static void main(String[] args) throws Exception {
        boolean quick = List.of(args).contains("--quick");
        Path jar = Path.of(arg(args, "--jar", "proxy/target/tollgate.jar"));
        Path out = Path.of(arg(args, "--out", "benchmarks/RESULTS-load.md"));
        String only = arg(args, "--only", "all");
        String policy = arg(args, "--policy", "stream_budget");
        int[] streams = Arrays.stream(arg(args, "--streams", quick ? "100,300" : "100,500,1000").split(","))
                .mapToInt(Integer::parseInt).toArray();
        double streamSeconds = Double.parseDouble(arg(args, "--stream-seconds", quick ? "6" : "12"));
        long tokens = Long.parseLong(arg(args, "--tokens", "100"));
        pin = List.of(args).contains("--pin");
        if (pin) {
            // The harness (the load client) joins the simulator on cpu 0; threads started later inherit it.
            new ProcessBuilder("taskset", "-a", "-p", "-c", "0", String.valueOf(ProcessHandle.current().pid()))
                    .inheritIO().start().waitFor();
        }
        Report report = new Report(quick, policy + (pin ? ", pinned: Tollgate on cpu 1, simulator and load client on cpu 0" : ""));
        if (!only.equals("streaming")) {
            nonStreaming(jar, policy, quick, report);
        }
        if (!only.equals("ladder")) {
            streaming(jar, policy, streams, streamSeconds, tokens, report);
        }
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

    static Pair start(Path jar, String policy, long ttftMs, long tps) throws IOException {
        int simPort = freePort();
        ChildProcess sim = ChildProcess.start(pin ? "0" : null, jar, "tollgate simulate:", "simulate", "--listen", "127.0.0.1:" + simPort,
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
                "    ag_payer: {policy: " + policy + ", fund: \"1000000.00\", budget: \"1000.00\", batch_calls: 1000, "
                        + "batch_seconds: 5}",
                ""));
        try {
            ChildProcess proxy = ChildProcess.start(pin ? "1" : null, jar, "tollgate: proxy on", "serve", "--config", cfg.toString());
            return new Pair(sim, simPort, proxy, port, admin);
        } catch (IOException | RuntimeException e) {
            sim.close();
            throw e;
        }
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void nonStreaming(Path jar, String policy, boolean quick, Report report) throws Exception {
        int[] ladder = quick ? new int[] {500, 2000, 4000} : new int[] {500, 1000, 2000, 4000, 6000, 8000, 12000};
        double seconds = quick ? 3 : 6;
        byte[] body = String.format(CHAT, 8, "").getBytes(StandardCharsets.UTF_8);
        try (Pair p = start(jar, policy, 0, 0);
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

    private static void streaming(Path jar, String policy, int[] ns, double seconds, long tokens, Report report)
            throws Exception {
        byte[] body = String.format(CHAT, tokens > 0 ? tokens : 100, ",\"stream\":true").getBytes(StandardCharsets.UTF_8);
        try (Pair p = start(jar, policy, 50, 50);
             LoadClient direct = new LoadClient("127.0.0.1", p.simPort(), null);
             LoadClient through = new LoadClient("127.0.0.1", p.proxyPort(), "Bearer " + KEY)) {
            if (tokens > 0) {
                direct.completionTokens(tokens);
                through.completionTokens(tokens);
            }
            report.streamTokens = tokens;
            // Warm both paths (JIT) at the largest step's concurrency (at most 300) before measuring.
            int warm = Math.min(300, Arrays.stream(ns).max().orElse(20));
            direct.streams("/v1/chat/completions", body, warm, 3);
            through.streams("/v1/chat/completions", body, warm, 5);
            long idleRss = p.proxy().rssKib();
            for (int n : ns) {
                CpuShares dCpu = new CpuShares(p, direct);
                LoadClient.Result d = direct.streams("/v1/chat/completions", body, n, seconds);
                dCpu.stop(d.seconds);
                CpuShares tCpu = new CpuShares(p, through);
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
                List<String[]> lagBefore = scrape(p.adminPort(), LAG);
                LoadClient.Result t = through.streams("/v1/chat/completions", body, n, seconds);
                sampler.join();
                tCpu.stop(t.seconds);
                String lag = lagP99(lagBefore, scrape(p.adminPort(), LAG));
                report.settlementLag(n, lag);
                report.streams(n, d, t, dCpu, tCpu, idleRss, peakRss[0]);
                System.out.println(report.lastStreamRow());
                System.out.println("TTFT ms p50/p90/p99/p99.9/max, direct: " + percentiles(d.ttft) + "; through: "
                        + percentiles(t.ttft) + "; connect ms, direct: " + percentiles(d.connect) + "; through: "
                        + percentiles(t.connect) + "; failed streams, direct: " + d.errors.get() + "; through: "
                        + t.errors.get() + "; settlement lag p99 through: " + lag);
            }
            report.streamOverhead = scrape(p.adminPort());
        }
    }

    private static final String LAG = "tollgate_settlement_lag_seconds";

    /** Tollgate's own overhead histogram (total minus upstream time) from its /metrics. */
    static List<String[]> scrape(int admin) throws Exception {
        return scrape(admin, "tollgate_overhead_seconds");
    }

    /**
     * The p99 of what a histogram counted between two scrapes, as the bucket bound it falls under ("<= 0.25 s"), with
     * the count: Prometheus buckets give no finer answer.
     */
    static String lagP99(List<String[]> before, List<String[]> after) {
        if (after.isEmpty()) {
            return "not reported by this build";
        }
        long total = Long.parseLong(after.get(after.size() - 1)[1])
                - (before.isEmpty() ? 0 : Long.parseLong(before.get(before.size() - 1)[1]));
        for (int i = 0; i < after.size(); i++) {
            long n = Long.parseLong(after.get(i)[1]) - (before.isEmpty() ? 0 : Long.parseLong(before.get(i)[1]));
            if (total > 0 && n * 100 >= total * 99) {
                return "<= " + after.get(i)[0] + " s (" + total + " records)";
            }
        }
        return "no records";
    }

    /** A histogram's cumulative buckets ({le, count}, +Inf last) from Tollgate's /metrics. */
    static List<String[]> scrape(int admin, String metric) throws Exception {
        String text = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + admin + "/metrics")).build(), HttpResponse.BodyHandlers.ofString()).body();
        List<String[]> buckets = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.startsWith(metric + "_bucket{le=\"")) {
                String le = line.substring(line.indexOf('"') + 1, line.lastIndexOf('"'));
                buckets.add(new String[] {le, line.substring(line.lastIndexOf(' ') + 1)});
            }
        }
        return buckets;
    }

    private static String percentiles(org.HdrHistogram.Histogram h) {
        return ms(h.getValueAtPercentile(50)) + " / " + ms(h.getValueAtPercentile(90)) + " / "
                + ms(h.getValueAtPercentile(99)) + " / " + ms(h.getValueAtPercentile(99.9)) + " / " + ms(h.getMaxValue());
    }

    static String ms(long nanos) {
        return String.format(Locale.ROOT, "%.3f", nanos / 1e6);
    }
}
