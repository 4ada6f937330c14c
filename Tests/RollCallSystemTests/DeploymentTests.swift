import Foundation
import RollCallTestSupport
import Testing
import Yams

@Suite("Deployment files", .timeLimit(.minutes(5)))
struct DeploymentTests {
    func file(_ path: String) throws -> String {
        try String(contentsOf: HubProcess.packageRoot.appendingPathComponent(path), encoding: .utf8)
    }

    @Test("the image copies every folder the package names and ships every resource bundle the hub reads")
    func dockerfile() throws {
        let dockerfile = try file("Dockerfile")
        let package = try file("Package.swift")
        // SwiftPM checks every target's folder, even when one product is built.
        for folder in ["Sources", "Tests", "Benchmarks"] where package.contains("\"\(folder)/") || folder != "Benchmarks" {
            #expect(dockerfile.contains("COPY \(folder) ./\(folder)"), "the image does not copy \(folder)")
        }
        for bundle in ["rollcall_RollCallPostgres.resources"] {
            #expect(dockerfile.contains(bundle), "the image leaves out \(bundle)")
        }
    }

    @Test("docker-compose.yml parses, and its hubs use only commands, options and variables rollcall accepts")
    func compose() async throws {
        let document = try #require(try Yams.load(yaml: try file("docker-compose.yml")) as? [String: Any])
        let services = try #require(document["services"] as? [String: Any])
        #expect(Set(services.keys).isSuperset(of: ["postgres", "hub-a", "hub-b", "lb"]))

        let help = try await HubProcess.run(["serve", "--help"])
        #expect(help.status == 0)
        for name in ["hub-a", "hub-b"] {
            let hub = try #require(services[name] as? [String: Any])
            let command = try #require(hub["command"] as? [String])
            #expect(command.first == "serve", "\(name) runs serve")
            for option in command where option.hasPrefix("--") {
                #expect(help.output.contains(option + " "), "\(name): rollcall serve has no \(option)")
            }
            let environment = try #require(hub["environment"] as? [String: Any])
            #expect(environment.keys.contains("DATABASE_URL") && environment.keys.contains("ROLLCALL_JWT_SECRET"))
            for variable in environment.keys {
                #expect(help.output.contains(variable), "\(name): rollcall serve reads no \(variable)")
            }
        }
        // The hubs believe X-Forwarded-For from nginx, and only from nginx.
        let lb = try #require(services["lb"] as? [String: Any])
        let lbAddress = ((lb["networks"] as? [String: Any])?["default"] as? [String: Any])?["ipv4_address"] as? String
        for name in ["hub-a", "hub-b"] {
            let environment = (services[name] as? [String: Any])?["environment"] as? [String: Any]
            #expect(lbAddress != nil && environment?["ROLLCALL_TRUSTED_PROXIES"] as? String == lbAddress, "\(name) trusts the load balancer")
        }
        // The server ids differ, or the hubs would close each other's rows as a restart.
        let ids = ["hub-a", "hub-b"].compactMap { ((services[$0] as? [String: Any])?["command"] as? [String])?.last }
        #expect(Set(ids).count == 2)
    }

    @Test("nginx passes WebSocket upgrades to both hubs")
    func nginx() throws {
        let config = try file("deploy/nginx.conf")
        #expect(config.contains("server hub-a:8080") && config.contains("server hub-b:8080"))
        #expect(config.contains("proxy_set_header Upgrade $http_upgrade"))
        #expect(config.contains("proxy_http_version 1.1"))
        #expect(config.contains("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for"))
    }
}
