package dockerapi

// Docker Engine API JSON shapes, the subset berth reads and writes. Field
// names follow the API reference (moby api/types); absent fields are left
// out rather than faked.

// containerConfig is the "Config" of create and inspect.
type containerConfig struct {
	Hostname     string              `json:"Hostname"`
	Domainname   string              `json:"Domainname"`
	User         string              `json:"User"`
	AttachStdin  bool                `json:"AttachStdin"`
	AttachStdout bool                `json:"AttachStdout"`
	AttachStderr bool                `json:"AttachStderr"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Tty          bool                `json:"Tty"`
	OpenStdin    bool                `json:"OpenStdin"`
	StdinOnce    bool                `json:"StdinOnce"`
	Env          []string            `json:"Env"`
	Cmd          []string            `json:"Cmd"`
	Image        string              `json:"Image"`
	Volumes      map[string]struct{} `json:"Volumes"`
	WorkingDir   string              `json:"WorkingDir"`
	Entrypoint   []string            `json:"Entrypoint"`
	Labels       map[string]string   `json:"Labels"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	StopTimeout  *int                `json:"StopTimeout,omitempty"`
}

type portBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

type restartPolicy struct {
	Name              string `json:"Name"`
	MaximumRetryCount int    `json:"MaximumRetryCount"`
}

type mountPoint struct {
	Type        string `json:"Type"`
	Source      string `json:"Source"`
	Target      string `json:"Target"`
	ReadOnly    bool   `json:"ReadOnly"`
	Destination string `json:"Destination,omitempty"`
	Mode        string `json:"Mode,omitempty"`
	RW          bool   `json:"RW,omitempty"`
}

// hostConfig is the "HostConfig" of create and inspect.
type hostConfig struct {
	Binds           []string                 `json:"Binds"`
	NetworkMode     string                   `json:"NetworkMode"`
	PortBindings    map[string][]portBinding `json:"PortBindings"`
	RestartPolicy   restartPolicy            `json:"RestartPolicy"`
	AutoRemove      bool                     `json:"AutoRemove"`
	Privileged      bool                     `json:"Privileged"`
	ReadonlyRootfs  bool                     `json:"ReadonlyRootfs"`
	CapAdd          []string                 `json:"CapAdd"`
	CapDrop         []string                 `json:"CapDrop"`
	Memory          int64                    `json:"Memory"`
	MemorySwap      int64                    `json:"MemorySwap"`
	NanoCpus        int64                    `json:"NanoCpus"`
	CPUShares       int64                    `json:"CpuShares"`
	CPUPeriod       int64                    `json:"CpuPeriod"`
	CPUQuota        int64                    `json:"CpuQuota"`
	CpusetCpus      string                   `json:"CpusetCpus"`
	PidsLimit       *int64                   `json:"PidsLimit"`
	ShmSize         int64                    `json:"ShmSize"`
	Sysctls         map[string]string        `json:"Sysctls,omitempty"`
	Mounts          []mountPoint             `json:"Mounts,omitempty"`
	Tmpfs           map[string]string        `json:"Tmpfs,omitempty"`
	PublishAllPorts bool                     `json:"PublishAllPorts"`
	OomScoreAdj     int                      `json:"OomScoreAdj"`
	Init            *bool                    `json:"Init"`
	LogConfig       struct {
		Type   string            `json:"Type"`
		Config map[string]string `json:"Config"`
	} `json:"LogConfig"`
}

type createRequest struct {
	containerConfig
	HostConfig hostConfig `json:"HostConfig"`
}

type containerState struct {
	Status     string `json:"Status"`
	Running    bool   `json:"Running"`
	Paused     bool   `json:"Paused"`
	Restarting bool   `json:"Restarting"`
	OOMKilled  bool   `json:"OOMKilled"`
	Dead       bool   `json:"Dead"`
	Pid        int    `json:"Pid"`
	ExitCode   int    `json:"ExitCode"`
	Error      string `json:"Error"`
	StartedAt  string `json:"StartedAt"`
	FinishedAt string `json:"FinishedAt"`
}

type endpointSettings struct {
	IPAddress   string `json:"IPAddress"`
	IPPrefixLen int    `json:"IPPrefixLen"`
	Gateway     string `json:"Gateway"`
	MacAddress  string `json:"MacAddress"`
	NetworkID   string `json:"NetworkID"`
}

type networkSettings struct {
	Bridge      string                       `json:"Bridge"`
	SandboxKey  string                       `json:"SandboxKey"`
	Ports       map[string][]portBinding     `json:"Ports"`
	IPAddress   string                       `json:"IPAddress"`
	IPPrefixLen int                          `json:"IPPrefixLen"`
	Gateway     string                       `json:"Gateway"`
	Networks    map[string]*endpointSettings `json:"Networks"`
}

type containerJSON struct {
	ID              string          `json:"Id"`
	Created         string          `json:"Created"`
	Path            string          `json:"Path"`
	Args            []string        `json:"Args"`
	State           containerState  `json:"State"`
	Image           string          `json:"Image"`
	ResolvConfPath  string          `json:"ResolvConfPath"`
	HostnamePath    string          `json:"HostnamePath"`
	HostsPath       string          `json:"HostsPath"`
	LogPath         string          `json:"LogPath"`
	Name            string          `json:"Name"`
	RestartCount    int             `json:"RestartCount"`
	Driver          string          `json:"Driver"`
	Platform        string          `json:"Platform"`
	HostConfig      hostConfig      `json:"HostConfig"`
	Mounts          []mountPoint    `json:"Mounts"`
	Config          containerConfig `json:"Config"`
	NetworkSettings networkSettings `json:"NetworkSettings"`
}

type apiPort struct {
	IP          string `json:"IP,omitempty"`
	PrivatePort int    `json:"PrivatePort"`
	PublicPort  int    `json:"PublicPort,omitempty"`
	Type        string `json:"Type"`
}

// containerSummary is one entry of GET /containers/json.
type containerSummary struct {
	ID         string            `json:"Id"`
	Names      []string          `json:"Names"`
	Image      string            `json:"Image"`
	ImageID    string            `json:"ImageID"`
	Command    string            `json:"Command"`
	Created    int64             `json:"Created"`
	Ports      []apiPort         `json:"Ports"`
	Labels     map[string]string `json:"Labels"`
	State      string            `json:"State"`
	Status     string            `json:"Status"`
	HostConfig struct {
		NetworkMode string `json:"NetworkMode"`
	} `json:"HostConfig"`
	NetworkSettings struct {
		Networks map[string]*endpointSettings `json:"Networks"`
	} `json:"NetworkSettings"`
	Mounts []mountPoint `json:"Mounts"`
}

type imageSummary struct {
	ID          string            `json:"Id"`
	ParentID    string            `json:"ParentId"`
	RepoTags    []string          `json:"RepoTags"`
	RepoDigests []string          `json:"RepoDigests"`
	Created     int64             `json:"Created"`
	Size        int64             `json:"Size"`
	SharedSize  int64             `json:"SharedSize"`
	VirtualSize int64             `json:"VirtualSize,omitempty"`
	Labels      map[string]string `json:"Labels"`
	Containers  int64             `json:"Containers"`
}

type imageInspect struct {
	ID            string          `json:"Id"`
	RepoTags      []string        `json:"RepoTags"`
	RepoDigests   []string        `json:"RepoDigests"`
	Parent        string          `json:"Parent"`
	Comment       string          `json:"Comment"`
	Created       string          `json:"Created"`
	DockerVersion string          `json:"DockerVersion"`
	Author        string          `json:"Author"`
	Config        containerConfig `json:"Config"`
	Architecture  string          `json:"Architecture"`
	Os            string          `json:"Os"`
	Size          int64           `json:"Size"`
	GraphDriver   struct {
		Name string            `json:"Name"`
		Data map[string]string `json:"Data"`
	} `json:"GraphDriver"`
	RootFS struct {
		Type   string   `json:"Type"`
		Layers []string `json:"Layers"`
	} `json:"RootFS"`
	Metadata struct {
		LastTagTime string `json:"LastTagTime"`
	} `json:"Metadata"`
}

type execConfig struct {
	User         string   `json:"User"`
	Privileged   bool     `json:"Privileged"`
	Tty          bool     `json:"Tty"`
	AttachStdin  bool     `json:"AttachStdin"`
	AttachStderr bool     `json:"AttachStderr"`
	AttachStdout bool     `json:"AttachStdout"`
	Detach       bool     `json:"Detach"`
	DetachKeys   string   `json:"DetachKeys"`
	Env          []string `json:"Env"`
	WorkingDir   string   `json:"WorkingDir"`
	Cmd          []string `json:"Cmd"`
	ConsoleSize  *[2]uint `json:"ConsoleSize,omitempty"`
}

type execStartConfig struct {
	Detach      bool     `json:"Detach"`
	Tty         bool     `json:"Tty"`
	ConsoleSize *[2]uint `json:"ConsoleSize,omitempty"`
}

type authConfig struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	ServerAddress string `json:"serveraddress,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}
