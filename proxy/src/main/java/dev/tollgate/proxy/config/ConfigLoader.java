package dev.tollgate.proxy.config;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;

/** Reads and validates a {@link ProxyConfig} from a YAML file. Stateless. */
public final class ConfigLoader {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private ConfigLoader() {
    }

    /** Loads a config file; any problem is a {@link ConfigException} with a one-line reason. */
    public static ProxyConfig load(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new ConfigException("config file not found: " + file);
        }
        try {
            JsonNode tree = YAML.readTree(file.toFile());
            if (tree == null || tree.isNull() || tree.isMissingNode()) {
                return ProxyConfig.empty();
            }
            try {
                ConfigCheck.check(tree);
            } catch (ConfigException e) {
                throw new ConfigException(file + ": " + e.getMessage());
            }
            return YAML.treeToValue(tree, ProxyConfig.class);
        } catch (UnrecognizedPropertyException e) {
            throw new ConfigException(file + ": unknown key '" + e.getPropertyName() + "' at "
                    + e.getPathReference().replace("dev.tollgate.proxy.config.", ""));
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new ConfigException(file + ": " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new ConfigException(file + ": " + e.getMessage());
        }
    }

    /** Checks what must hold before a node starts; returns the config with defaults applied. */
    public static ProxyConfig validate(ProxyConfig cfg) {
        ConfigCheck.check(YAML.valueToTree(cfg));
        ProxyConfig c = cfg.withDefaults();
        HostPort.parse(c.listen(), "listen");
        HostPort.parse(c.admin(), "admin");
        if (!"off".equals(c.grpc())) {
            HostPort grpc = HostPort.parse(c.grpc(), "grpc");
            if ((c.adminToken() == null || c.adminToken().isEmpty()) && !isLoopback(grpc.host())) {
                throw new ConfigException("grpc: " + c.grpc() + " is not a loopback address and admin_token is not set;"
                        + " set admin_token or bind gRPC to 127.0.0.1");
            }
        }
        if (c.upstreams().isEmpty()) {
            throw new ConfigException("no upstream: give --upstream URL or 'upstreams' in the config");
        }
        for (UpstreamConfig u : c.upstreams()) {
            String url = u.effectiveUrl();
            if (url == null) {
                throw new ConfigException("upstream without url");
            }
            URI uri;
            try {
                uri = new URI(url);
            } catch (Exception e) {
                throw new ConfigException("upstream url is not a URL: " + url);
            }
            if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())) {
                throw new ConfigException("upstream url must be http or https: " + url);
            }
            if (uri.getHost() == null) {
                throw new ConfigException("upstream url has no host: " + url);
            }
        }
        for (ApiKeyConfig k : c.apiKeys()) {
            if (k.sha256() == null || !k.sha256().matches("[0-9a-fA-F]{64}")) {
                throw new ConfigException("api_keys entries need sha256: 64 hex characters (never the key itself)");
            }
            if (k.account() == null || k.account().isBlank()) {
                throw new ConfigException("api_keys entry without account");
            }
        }
        return c;
    }

    /** Whether {@code host} (a name or literal address) is a loopback address; unresolvable names are not. */
    public static boolean isLoopback(String host) {
        try {
            return java.net.InetAddress.getByName(host).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }
}
