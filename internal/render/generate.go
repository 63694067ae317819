package render

import "fmt"

// GeneratedService returns the YAML of a Deployment and its Service, the
// i-th of a generated fleet (namespaces team-0..team-2), for tests and
// benchmarks of converting many services at once.
func GeneratedService(i int) string {
	name, ns := fmt.Sprintf("svc-%03d", i), fmt.Sprintf("team-%d", i%3)
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  replicas: 2
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s, version: v1}
    spec:
      containers:
      - name: app
        image: registry.example.com/%[1]s:1.0
        ports: [{containerPort: 8080, name: http}]
        readinessProbe:
          httpGet: {path: /ready, port: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: %[1]s
  namespace: %[2]s
spec:
  selector: {app: %[1]s}
  ports: [{name: http, port: 80, targetPort: 8080}]
`, name, ns)
}
