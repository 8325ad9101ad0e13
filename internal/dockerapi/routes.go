package dockerapi

func (s *Server) routes() {
	s.handle("GET /_ping", s.ping)
	s.handle("HEAD /_ping", s.ping)
	s.handle("GET /version", s.version)
	s.handle("GET /info", s.info)
	s.handle("GET /system/df", s.systemDF)
	s.handle("POST /auth", s.auth)

	s.handle("/images/", s.images)
	s.handle("POST /build", s.build)
	s.handle("POST /commit", s.commit)

	s.handle("POST /containers/create", s.containerCreate)
	s.handle("GET /containers/json", s.containerList)
	s.handle("GET /containers/{id}/json", s.containerInspect)
	s.handle("POST /containers/{id}/start", s.containerStart)
	s.handle("POST /containers/{id}/stop", s.containerStop)
	s.handle("POST /containers/{id}/restart", s.containerRestart)
	s.handle("POST /containers/{id}/kill", s.containerKill)
	s.handle("DELETE /containers/{id}", s.containerRemove)
	s.handle("POST /containers/{id}/rename", s.containerRename)
	s.handle("POST /containers/{id}/resize", s.containerResize)
	s.handle("POST /containers/{id}/wait", s.containerWait)
	s.handle("GET /containers/{id}/logs", s.containerLogs)
	s.handle("POST /containers/{id}/attach", s.containerAttach)
	s.handle("GET /containers/{id}/top", s.containerTop)
	s.handle("GET /containers/{id}/stats", s.containerStats)
	s.handle("POST /containers/{id}/exec", s.execCreate)
	s.handle("POST /exec/{id}/start", s.execStart)
	s.handle("POST /exec/{id}/resize", s.execResize)
	s.handle("GET /exec/{id}/json", s.execInspect)

	// Honest answers for what the CLI may call but berth doesn't do.
	s.handle("GET /events", notImplemented("the event stream"))
	s.handle("POST /containers/prune", notImplemented("container prune"))
	s.handle("POST /containers/{id}/pause", notImplemented("pause"))
	s.handle("POST /containers/{id}/unpause", notImplemented("unpause"))
	s.handle("POST /containers/{id}/update", notImplemented("container update"))
	s.handle("GET /networks", notImplemented("networks"))
	s.handle("GET /volumes", notImplemented("volumes"))
	s.handle("POST /session", notImplemented("BuildKit sessions"))
}
