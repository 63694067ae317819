package springprops

import "regexp"

// The properties that point a Spring Cloud client of a service at a URL:
// Feign's (Spring Cloud OpenFeign 4.x calls the url of
// spring.cloud.openfeign.client.config.<contextId>.url, when the
// @FeignClient annotation has none, instead of load-balancing over the
// discovery client's instances: FeignClientFactoryBean#getTarget;
// contextId defaults to the client's name, the service name), and
// the simple discovery client's instances (Spring Cloud Commons'
// SimpleDiscoveryProperties, prefix spring.cloud.discovery.client.simple),
// which the load balancer of RestTemplate / WebClient callers asks first
// when their order is below the default 0 that NacosDiscoveryClient has
// (CompositeDiscoveryClient#getInstances).
const (
	feignPrefix       = "spring.cloud.openfeign.client.config."
	simplePrefix      = "spring.cloud.discovery.client.simple.instances."
	SimpleOrderKey    = "spring.cloud.discovery.client.simple.order"
	SimpleOrderBefore = "-1"
)

// plainKey is a map key Spring binds as written.
var plainKey = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// MapKey is a service name as a key of a Spring map property: lower-case
// letters, digits and '-' as they are, anything else in brackets, which
// Spring binds verbatim (Spring Boot's "Binding Maps").
func MapKey(name string) string {
	if plainKey.MatchString(name) {
		return name
	}
	return "[" + name + "]"
}

// FeignURLKey is the property that points the Feign client of a service
// at a URL.
func FeignURLKey(service string) string { return feignPrefix + MapKey(service) + ".url" }

// SimpleURIKey is the property of the first simple-discovery instance of
// a service.
func SimpleURIKey(service string) string { return simplePrefix + MapKey(service) + "[0].uri" }
