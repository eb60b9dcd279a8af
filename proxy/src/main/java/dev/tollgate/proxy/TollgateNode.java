package dev.tollgate.proxy;

import dev.tollgate.metering.agent.MeteringAgent;
import dev.tollgate.metering.tokens.TokenEstimator;
import dev.tollgate.proxy.admin.AdminRoutes;
import dev.tollgate.proxy.admin.AdminServer;
import dev.tollgate.proxy.admin.HealthRoutes;
import dev.tollgate.proxy.admin.MeteringRoutes;
import dev.tollgate.proxy.config.ConfigLoader;
import dev.tollgate.proxy.config.HostPort;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.http.ApiKeys;
import dev.tollgate.proxy.http.RequestIds;
import dev.tollgate.proxy.upstream.UpstreamConnector;
import dev.tollgate.proxy.upstream.UpstreamGroup;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.util.ArrayList;
import java.util.List;
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

    private TollgateNode(EventLoopGroup boss, EventLoopGroup workers, MeteringAgent metering, ProxyServer proxy,
                         AdminServer admin, UpstreamGroup upstreams) {
        this.boss = boss;
        this.workers = workers;
        this.metering = metering;
        this.proxy = proxy;
        this.admin = admin;
        this.upstreams = upstreams;
    }

    /** Starts a node; the config is validated first ({@link dev.tollgate.proxy.config.ConfigException}). */
    public static TollgateNode start(ProxyConfig config) throws InterruptedException {
        ProxyConfig cfg = ConfigLoader.validate(config);
        ProxyConfig.Limits limits = cfg.limits();
        EventLoopGroup boss = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        EventLoopGroup workers = new MultiThreadIoEventLoopGroup(NioIoHandler.newFactory());
        MeteringAgent metering = new MeteringAgent(limits.meteringQueue());
        try {
            UpstreamGroup upstreams = new UpstreamGroup(cfg.upstreams(), limits.ejectAfterFailures(),
                    limits.ejectMillis());
            UpstreamConnector connector = new UpstreamConnector(limits.connectTimeoutMillis(),
                    limits.idleTimeoutMillis(), TlsContexts.forUpstreams(cfg.upstreamCaFile()));
            metering.start();
            ProxyServices services = new ProxyServices(limits, upstreams, connector, metering,
                    TokenEstimator.standard(), new RequestIds(), new ApiKeys(cfg.apiKeys()), AdmissionGate.OPEN);
            ProxyServer proxy = ProxyServer.bind(HostPort.parse(cfg.listen(), "listen"), boss, workers, services,
                    TlsContexts.forListener(cfg.tls()));
            List<AdminRoutes> routes = new ArrayList<>();
            routes.add(new HealthRoutes(metering, upstreams, List.of()));
            routes.add(new MeteringRoutes(metering, null, List.of()));
            AdminServer admin;
            try {
                admin = AdminServer.bind(HostPort.parse(cfg.admin(), "admin"), boss, cfg.adminToken(), routes);
            } catch (RuntimeException | InterruptedException e) {
                proxy.close();
                throw e;
            }
            return new TollgateNode(boss, workers, metering, proxy, admin, upstreams);
        } catch (RuntimeException | InterruptedException e) {
            metering.close();
            boss.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw e;
        }
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

    /** Stops accepting, lets the event loops finish, then drains metering. */
    @Override
    public void close() {
        proxy.close();
        admin.close();
        workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        boss.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
        metering.close();
    }
}
