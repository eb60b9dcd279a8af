package dev.tollgate.proxy;

import dev.tollgate.escrow.langfuse.LangfuseBridge;
import dev.tollgate.escrow.langfuse.LangfuseConfig;
import dev.tollgate.escrow.settle.SettlementConfig;
import dev.tollgate.escrow.settle.SettlementConfigReader;
import dev.tollgate.escrow.settle.SettlementService;
import dev.tollgate.metering.NonBlockingThreads;
import dev.tollgate.metering.agent.MeteringAgent;
import dev.tollgate.metering.tokens.TokenEstimator;
import dev.tollgate.proxy.admin.AdminRoutes;
import dev.tollgate.proxy.agentapi.AgentApi;
import dev.tollgate.proxy.admin.AdminServer;
import dev.tollgate.proxy.admin.HealthRoutes;
import dev.tollgate.proxy.admin.MeteringRoutes;
import dev.tollgate.proxy.admin.SettlementRoutes;
import dev.tollgate.proxy.config.ConfigException;
import dev.tollgate.proxy.control.ControlServer;
import dev.tollgate.proxy.control.UsageFeed;
import dev.tollgate.proxy.upstream.Upstream;
import dev.tollgate.proxy.config.ConfigLoader;
import dev.tollgate.proxy.config.HostPort;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.http.ApiKeys;
import dev.tollgate.proxy.http.RequestIds;
import dev.tollgate.proxy.upstream.UpstreamConnector;
import dev.tollgate.proxy.upstream.Transports;
import dev.tollgate.proxy.upstream.UpstreamGroup;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A running Tollgate: the proxy listener, the admin listener, the metering thread, and (when configured)
 * settlement. The composition root; everything else is handed what it needs.
 *
 * <p>Threading: {@link #start} and {@link #close} from one controlling thread.
 */
public final class TollgateNode implements AutoCloseable {
    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final MeteringAgent metering;
    private final ProxyServer proxy;
    private final AdminServer admin;
    private final UpstreamGroup upstreams;
    private final SettlementService settlement;
    private final ControlServer control;
    private final NonBlockingThreads eventLoops;
    private LangfuseBridge langfuse;
    private BackgroundThreads backgroundThreads;
    private final dev.tollgate.proxy.runpod.RunPodJobs runpod;

    private TollgateNode(EventLoopGroup boss, EventLoopGroup workers, MeteringAgent metering, ProxyServer proxy,
                         AdminServer admin, UpstreamGroup upstreams, SettlementService settlement,
                         ControlServer control, NonBlockingThreads eventLoops,
                         dev.tollgate.proxy.runpod.RunPodJobs runpod) {
        this.boss = boss;
        this.workers = workers;
        this.metering = metering;
        this.proxy = proxy;
        this.admin = admin;
        this.upstreams = upstreams;
        this.settlement = settlement;
        this.control = control;
        this.eventLoops = eventLoops;
        this.runpod = runpod;
    }

    private static boolean onAnyLoop(EventLoopGroup group) {
        for (io.netty.util.concurrent.EventExecutor e : group) {
            if (e.inEventLoop()) {
                return true;
            }
        }
        return false;
    }

    /** Starts a node; the config is validated first ({@link dev.tollgate.proxy.config.ConfigException}). */
    public static TollgateNode start(ProxyConfig config) throws InterruptedException {
        ProxyConfig cfg = ConfigLoader.validate(config);
        ProxyConfig.Limits limits = cfg.limits();
        EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        // Client and upstream connections: native epoll where it loads (the admin listener stays on boss, NIO).
        EventLoopGroup workers = new MultiThreadIoEventLoopGroup(Transports.ioHandlerFactory());
        // Metrics label only the models the operator named (priced or listed); clients choose the rest.
        Set<String> labelledModels = new HashSet<>(SettlementConfigReader.pricedModels(cfg.settlement()));
        labelledModels.addAll(cfg.metricsModels());
        MeteringAgent metering = new MeteringAgent(limits.meteringQueue(), labelledModels);
        NonBlockingThreads eventLoops = new NonBlockingThreads(t -> onAnyLoop(boss) || onAnyLoop(workers));
        SettlementService settlement = null;
        LangfuseBridge langfuse = null;
        ProxyServer proxy = null;
        AdminServer admin = null;
        dev.tollgate.proxy.runpod.RunPodJobs runpod = null;
        BackgroundThreads background = null;
        try {
            // RunPod's native job API is its own protocol (RunPodJobs); the relay balances the OpenAI upstreams.
            UpstreamGroup upstreams = new UpstreamGroup(cfg.upstreams().stream().filter(u -> !u.isRunPod()).toList(),
                    limits.ejectAfterFailures(),
                    limits.ejectMillis());
            UpstreamConnector connector = new UpstreamConnector(limits.connectTimeoutMillis(),
                    limits.idleTimeoutMillis(), TlsContexts.forUpstreams(cfg.upstreamCaFile()));
            Map<String, String> workerOf = new HashMap<>();
            for (Upstream u : upstreams.all()) {
                workerOf.put(u.name(), u.worker());
            }
            workerOf.putAll(dev.tollgate.proxy.runpod.RunPodJobs.payees(cfg.upstreams()));
            SettlementConfig sc;
            try {
                sc = SettlementConfigReader.read(cfg.settlement(), Path.of(cfg.dataDir()));
            } catch (IllegalArgumentException e) {
                throw new ConfigException("settlement: " + e.getMessage());
            }
            settlement = SettlementService.open(sc, Clock.systemUTC(), EscrowBackends.forConfig(sc, cfg.settlement(), workerOf),
                    up -> workerOf.getOrDefault(up, up));
            settlement.guardThreads(eventLoops);
            metering.addListener(settlement.usageListener());
            settlement.onIntent(metering::wake);
            LangfuseConfig lf;
            try {
                lf = LangfuseConfig.read(cfg.langfuse());
                langfuse = lf == null ? null
                        : LangfuseBridge.create(lf, cfg.settlement(), settlement, Clock.systemUTC()).start();
            } catch (IllegalArgumentException e) {
                throw new ConfigException(e.getMessage());
            }
            UsageFeed feed = new UsageFeed();
            metering.addListener(feed);
            metering.start();
            ApiKeys apiKeys = new ApiKeys(cfg.apiKeys());
            runpod = dev.tollgate.proxy.runpod.RunPodJobs.start(cfg.upstreams(), settlement, metering,
                    TokenEstimator.standard(), apiKeys, cfg.settlement());
            ProxyServices services = new ProxyServices(limits, upstreams, connector, metering,
                    TokenEstimator.standard().guardedBy(eventLoops), new RequestIds(), apiKeys,
                    new SettlementGate(settlement), settlement, new RelayGauge(),
                    new TraceLinking(lf != null && lf.createTraces()),
                    runpod == null ? List.of() : List.of(runpod.routes()),
                    new AgentApi(settlement, metering, Clock.systemUTC()));
            proxy = ProxyServer.bind(HostPort.parse(cfg.listen(), "listen"), boss, workers, services,
                    TlsContexts.forListener(cfg.tls()));
            SettlementService s = settlement;
            background = "idle".equals(cfg.backgroundThreads()) ? BackgroundThreads.start(s::journalWaitingEntries, s::journalStalledNanos)
                    : null;
            SettlementRoutes settlementRoutes = new SettlementRoutes(s);
            List<AdminRoutes> routes = new ArrayList<>();
            List<java.util.function.Consumer<StringBuilder>> gauges = new ArrayList<>(List.of(s::writePrometheus,
                    services.relayGauge()::writePrometheus, eventLoops::writePrometheus));
            if (background != null) {
                gauges.add(background::writePrometheus);
            }
            if (langfuse != null) {
                gauges.add(langfuse::writePrometheus);
            }
            if (runpod != null) {
                gauges.add(runpod::writePrometheus);
            }
            routes.add(new HealthRoutes(metering, upstreams, gauges,
                    sc.backend().equals("embedded") ? null : s.remoteOperations()::health));
            routes.add(new MeteringRoutes(metering, s::usage, List.of(settlementRoutes)));
            routes.add(settlementRoutes);
            routes.add(new dev.tollgate.proxy.admin.ExportRoutes(s));
            admin = AdminServer.bind(HostPort.parse(cfg.admin(), "admin"), boss, cfg.adminToken(), routes);
            ControlServer control = "off".equals(cfg.grpc()) ? null
                    : ControlServer.start(HostPort.parse(cfg.grpc(), "grpc"), s, feed, cfg.adminToken());
            TollgateNode node = new TollgateNode(boss, workers, metering, proxy, admin, upstreams, settlement, control,
                    eventLoops, runpod);
            node.langfuse = langfuse;
            node.backgroundThreads = background;
            return node;
        } catch (RuntimeException | InterruptedException | java.io.IOException e) {
            if (background != null) {
                background.close();
            }
            if (langfuse != null) {
                langfuse.close();
            }
            if (admin != null) {
                admin.close();
            }
            if (proxy != null) {
                proxy.close();
            }
            if (runpod != null) {
                runpod.close();
            }
            metering.close();
            if (settlement != null) {
                settlement.close();
            }
            boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            if (e instanceof InterruptedException ie) {
                throw ie;
            }
            if (e instanceof RuntimeException re) {
                throw re;
            }
            throw new ConfigException("grpc: " + e.getMessage());
        }
    }

    /** The background threads' scheduling; null for {@code background_threads: normal}. */
    public BackgroundThreads backgroundThreads() {
        return backgroundThreads;
    }

    public int proxyPort() {
        return proxy.port();
    }

    public int adminPort() {
        return admin.port();
    }

    /** {@code http://host:port/v1}, the base URL an OpenAI client is given. */
    public String baseUrl() {
        return "http://" + proxy.host() + ":" + proxy.port() + "/v1";
    }

    public String adminUrl() {
        return "http://" + proxy.host() + ":" + admin.port();
    }

    public MeteringAgent metering() {
        return metering;
    }

    public UpstreamGroup upstreams() {
        return upstreams;
    }

    /** Settlement: admission, journal, ledger, statements. */
    public SettlementService settlement() {
        return settlement;
    }

    /** The event loops that serve client and upstream connections. */
    public EventLoopGroup clientEventLoops() {
        return workers;
    }

    /** The event loops, with a count of blocking work (database, tokenizer) that started on one of them. */
    public NonBlockingThreads eventLoops() {
        return eventLoops;
    }

    /** The Langfuse bridge, or null when {@code langfuse:} is not configured. */
    public LangfuseBridge langfuse() {
        return langfuse;
    }

    /** The RunPod jobs component, or null when no {@code kind: runpod} upstream is configured. */
    public dev.tollgate.proxy.runpod.RunPodJobs runpod() {
        return runpod;
    }

    /** Port of the gRPC control service, or -1 when it is off. */
    public int grpcPort() {
        return control == null ? -1 : control.port();
    }

    /** Stops accepting, lets the event loops finish, drains metering into the journal, then stops settling. */
    @Override
    public void close() {
        proxy.close();
        admin.close();
        if (control != null) {
            control.close();
        }
        workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        boss.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        if (runpod != null) {
            runpod.close();
        }
        if (backgroundThreads != null) {
            backgroundThreads.close();
        }
        metering.close();
        if (langfuse != null) {
            langfuse.close();
        }
        settlement.close();
    }
}
