package dev.tollgate.simulator.runpod;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * The simulated endpoint's routes. Rate limits per 10 s as RunPod documents them ({@code /run} 1000,
 * {@code /runsync} 2000, {@code /status} and {@code /stream} 2000 each, {@code /cancel} 100, {@code /purge-queue}
 * 2): over them, 429. A wrong key is 401 {@code {"error":"Unauthorized"}}; an unknown job 404.
 *
 * <p>Threading: one instance per connection; the shared {@link State} is synchronized.
 */
final class RunPodSimHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Jobs and counters of one simulator. */
    static final class State {
        private final String apiKey;
        private final String model;
        private final String defaultFault;
        private final Map<String, SimJob> jobs = new HashMap<>();
        private final Map<String, int[]> window = new HashMap<>();
        private long windowStart = System.nanoTime();
        private int seq;
        private int submitted;
        private int statusCalls;
        private int cancels;
        private int retried;

        State(String apiKey, String model, String defaultFault) {
            this.apiKey = apiKey;
            this.model = model;
            this.defaultFault = defaultFault;
        }

        synchronized int submitted() {
            return submitted;
        }

        synchronized int statusCalls() {
            return statusCalls;
        }

        synchronized int cancels() {
            return cancels;
        }

        synchronized String status(String id) {
            SimJob j = jobs.get(id);
            return j == null ? null : j.status;
        }

        synchronized void release(String id) {
            SimJob j = jobs.get(id);
            if (j != null) {
                j.released = true;
            }
        }

        /** Counts a call against its route's limit; false when over it. */
        private boolean allow(String route) {
            long now = System.nanoTime();
            if (now - windowStart > 10_000_000_000L) {
                window.clear();
                windowStart = now;
            }
            int limit = switch (route) {
                case "run" -> 1000;
                case "cancel" -> 100;
                case "purge-queue" -> 2;
                default -> 2000;
            };
            int[] n = window.computeIfAbsent(route, k -> new int[1]);
            return ++n[0] <= limit;
        }

        synchronized Answer handle(String method, String path, String auth, byte[] body) {
            if (apiKey != null && !(("Bearer " + apiKey).equals(auth) || apiKey.equals(auth))) {
                return new Answer(401, "{\"error\":\"Unauthorized\"}");
            }
            String[] s = path.split("/");
            if (s.length < 4 || !s[1].equals("v2")) {
                return new Answer(404, "{\"error\":\"not found\"}");
            }
            String route = s[3];
            if (!allow(route)) {
                return new Answer(429, "{\"error\":\"Too many requests\"}");
            }
            String jobId = s.length > 4 ? s[4] : null;
            switch (route) {
                case "run", "runsync" -> {
                    JsonNode req;
                    try {
                        req = JSON.readTree(body);
                    } catch (java.io.IOException e) {
                        req = null;
                    }
                    if (req == null || !req.path("input").isObject()) {
                        return new Answer(400, "{\"error\":\"Invalid input: an input object is required\"}");
                    }
                    String fault = req.path("input").path("sim_fault").asText(defaultFault == null ? "" : defaultFault);
                    if (fault.startsWith("submit-status:")) {
                        return new Answer(Integer.parseInt(fault.substring(14)), "{\"error\":\"simulated\"}");
                    }
                    seq++;
                    submitted++;
                    String id = (route.equals("runsync") ? "sync-" : "") + String.format(
                            "%08x-0000-4000-8000-%012x-u1", seq, seq);
                    SimJob j = new SimJob(id, req.get("input"), model, defaultFault);
                    jobs.put(id, j);
                    if (route.equals("run")) {
                        return new Answer(200, "{\"id\":\"" + id + "\",\"status\":\"IN_QUEUE\"}");
                    }
                    j.runToEnd();
                    return json(200, j.terminal() ? j.statusBody() : JsonNodeFactory.instance.objectNode()
                            .put("id", id).put("status", j.status));
                }
                case "health" -> {
                    int[] c = new int[4];
                    for (SimJob j : jobs.values()) {
                        c[switch (j.status) {
                            case "COMPLETED" -> 0;
                            case "FAILED", "TIMED_OUT" -> 1;
                            case "IN_PROGRESS" -> 2;
                            case "IN_QUEUE" -> 3;
                            default -> 0;
                        }]++;
                    }
                    ObjectNode b = JsonNodeFactory.instance.objectNode();
                    b.putObject("jobs").put("completed", c[0]).put("failed", c[1]).put("inProgress", c[2])
                            .put("inQueue", c[3]).put("retried", retried);
                    b.putObject("workers").put("idle", 1).put("running", c[2] > 0 ? 1 : 0);
                    return json(200, b);
                }
                case "purge-queue" -> {
                    int removed = 0;
                    for (var it = jobs.values().iterator(); it.hasNext(); ) {
                        if (it.next().status.equals("IN_QUEUE")) {
                            it.remove();
                            removed++;
                        }
                    }
                    return new Answer(200, "{\"removed\":" + removed + ",\"status\":\"completed\"}");
                }
                default -> {
                    // status, stream, cancel, retry
                }
            }
            SimJob j = jobId == null ? null : jobs.get(jobId);
            if (j == null || j.expired()) {
                return new Answer(404, "{\"error\":\"job " + jobId + " not found\"}");
            }
            switch (route) {
                case "status", "status-sync" -> {
                    statusCalls++;
                    if (j.rateLimit()) {
                        return new Answer(429, "{\"error\":\"Too many requests\"}", j.retryAfter());
                    }
                    j.advance();
                    if (j.expired()) {
                        return new Answer(404, "{\"error\":\"job " + jobId + " not found\"}");
                    }
                    return json(200, j.statusBody());
                }
                case "stream" -> {
                    j.advance();
                    return json(200, j.streamBody());
                }
                case "cancel" -> {
                    if (!j.terminal()) {
                        j.status = "CANCELLED";
                        cancels++;
                    }
                    return new Answer(200, "{\"id\":\"" + jobId + "\",\"status\":\"" + j.status + "\"}");
                }
                case "retry" -> {
                    if (!j.status.equals("FAILED") && !j.status.equals("TIMED_OUT")) {
                        return new Answer(400, "{\"error\":\"only FAILED or TIMED_OUT jobs can be retried\"}");
                    }
                    j.retried = true;
                    j.status = "IN_QUEUE";
                    j.step = 0;
                    j.drained = 0;
                    retried++;
                    return new Answer(200, "{\"id\":\"" + jobId + "\",\"status\":\"IN_QUEUE\"}");
                }
                default -> {
                    return new Answer(404, "{\"error\":\"not found\"}");
                }
            }
        }

        private static Answer json(int status, JsonNode body) {
            return new Answer(status, body.toString());
        }
    }

    /** An answer; {@code retryAfter} is the {@code Retry-After} header's value, or null for none. */
    record Answer(int status, String body, String retryAfter) {
        Answer(int status, String body) {
            this(status, body, null);
        }
    }

    private final State state;

    RunPodSimHandler(State state) {
        this.state = state;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
        String uri = req.uri();
        int q = uri.indexOf('?');
        Answer a = state.handle(req.method().name(), q < 0 ? uri : uri.substring(0, q),
                req.headers().get(HttpHeaderNames.AUTHORIZATION), ByteBufUtil.getBytes(req.content()));
        byte[] b = a.body().getBytes(StandardCharsets.UTF_8);
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(a.status()),
                Unpooled.wrappedBuffer(b));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, b.length);
        if (a.retryAfter() != null) {
            r.headers().set(HttpHeaderNames.RETRY_AFTER, a.retryAfter());
        }
        boolean keepAlive = HttpUtil.isKeepAlive(req);
        HttpUtil.setKeepAlive(r, keepAlive);
        var f = ctx.writeAndFlush(r);
        if (!keepAlive) {
            f.addListener(ChannelFutureListener.CLOSE);
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
