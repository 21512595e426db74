package awssmtest

import (
	"bytes"
	"encoding/json"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

const targetPrefix = "secretsmanager."

// dispatch runs the operation X-Amz-Target names, for a request that has
// passed authentication. The JSON 1.1 protocol is POST / only.
func (s *Server) dispatch(r *http.Request, body []byte) (any, *apiError) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return nil, &apiError{http.StatusNotFound, "UnknownOperationException", "The JSON protocol accepts only POST /."}
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-amz-json-1.1" {
		return nil, &apiError{http.StatusBadRequest, "SerializationException", "Content-Type must be application/x-amz-json-1.1."}
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if !ok {
		return nil, &apiError{http.StatusBadRequest, "UnknownOperationException", "Unknown X-Amz-Target."}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch op {
	case "GetSecretValue":
		s.requests[op]++
		return s.getSecretValue(body)
	case "PutSecretValue":
		s.requests[op]++
		return s.putSecretValue(body)
	case "DescribeSecret":
		s.requests[op]++
		return s.describeSecret(body)
	}
	return nil, &apiError{http.StatusBadRequest, "UnknownOperationException", "Operation not implemented by awssmtest."}
}

// epoch is a timestamp as the JSON protocols send one: seconds since the
// epoch, a JSON number with millisecond precision.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(e).UnixMilli()
	return []byte(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)), nil
}

type getSecretValueInput struct {
	SecretId     *string
	VersionId    *string
	VersionStage *string
}

type getSecretValueOutput struct {
	ARN           string
	Name          string
	VersionId     string
	SecretString  *string `json:",omitempty"`
	SecretBinary  []byte  `json:",omitempty"` // base64, as JSON blobs are
	VersionStages []string
	CreatedDate   epoch
}

// getSecretValue reads the version VersionId or VersionStage names
// (AWSCURRENT when neither); both must then name the same version.
func (s *Server) getSecretValue(body []byte) (any, *apiError) {
	var in getSecretValueInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sec, err := s.lookup(in.SecretId)
	if err != nil {
		return nil, err
	}
	v, err := pickVersion(sec, in.VersionId, in.VersionStage)
	if err != nil {
		return nil, err
	}
	return getSecretValueOutput{
		ARN: sec.arn, Name: sec.name, VersionId: v.id, SecretString: v.str, SecretBinary: v.bin,
		VersionStages: sortedStages(v), CreatedDate: epoch(v.created),
	}, nil
}

func pickVersion(sec *storedSecret, id, stage *string) (*version, *apiError) {
	if id == nil && stage == nil {
		stage = new(StageCurrent)
	}
	var v *version
	if id != nil {
		if v = sec.versions[*id]; v == nil {
			return nil, &apiError{http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for VersionId: " + *id}
		}
	}
	if stage != nil {
		byStage := sec.withStage(*stage)
		switch {
		case byStage == nil:
			return nil, &apiError{http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label: " + *stage}
		case v != nil && v != byStage:
			return nil, &apiError{http.StatusBadRequest, "InvalidRequestException", "VersionId and VersionStage name different versions."}
		}
		v = byStage
	}
	return v, nil
}

type putSecretValueInput struct {
	SecretId           *string
	ClientRequestToken *string
	SecretString       *string
	SecretBinary       []byte
	VersionStages      []string
}

type putSecretValueOutput struct {
	ARN           string
	Name          string
	VersionId     string
	VersionStages []string
}

// putSecretValue adds a version to an existing secret. The SDKs fill
// ClientRequestToken with a UUID; it becomes the VersionId, and a repeat
// with the same token and data is a no-op, with different data an error.
func (s *Server) putSecretValue(body []byte) (any, *apiError) {
	var in putSecretValueInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sec, err := s.lookup(in.SecretId)
	if err != nil {
		return nil, err
	}
	if (in.SecretString == nil) == (in.SecretBinary == nil) {
		return nil, &apiError{http.StatusBadRequest, "InvalidParameterException", "You must provide either SecretString or SecretBinary, but not both."}
	}
	id := newVersionID()
	if in.ClientRequestToken != nil {
		if n := len(*in.ClientRequestToken); n < 32 || n > 64 {
			return nil, &apiError{http.StatusBadRequest, "ValidationException", "ClientRequestToken must be 32 to 64 characters."}
		}
		id = *in.ClientRequestToken
	}
	if old := sec.versions[id]; old != nil {
		if !old.sameData(in.SecretString, in.SecretBinary) {
			return nil, &apiError{http.StatusBadRequest, "ResourceExistsException", "A resource with the ID you requested already exists."}
		}
		return putSecretValueOutput{ARN: sec.arn, Name: sec.name, VersionId: old.id, VersionStages: sortedStages(old)}, nil
	}
	v := s.addVersion(sec, id, in.SecretString, in.SecretBinary, in.VersionStages)
	return putSecretValueOutput{ARN: sec.arn, Name: sec.name, VersionId: v.id, VersionStages: sortedStages(v)}, nil
}

type describeSecretOutput struct {
	ARN                string
	Name               string
	CreatedDate        epoch
	LastChangedDate    epoch
	VersionIdsToStages map[string][]string
}

// describeSecret answers the secret's metadata. VersionIdsToStages lists
// only versions with a staging label, as the service does.
func (s *Server) describeSecret(body []byte) (any, *apiError) {
	var in struct{ SecretId *string }
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	sec, err := s.lookup(in.SecretId)
	if err != nil {
		return nil, err
	}
	out := describeSecretOutput{ARN: sec.arn, Name: sec.name, CreatedDate: epoch(sec.created),
		LastChangedDate: epoch(sec.lastChanged), VersionIdsToStages: map[string][]string{}}
	for id, v := range sec.versions {
		if len(v.stages) > 0 {
			out.VersionIdsToStages[id] = sortedStages(v)
		}
	}
	return out, nil
}

// lookup finds a secret by name, full ARN or partial ARN (the ARN without
// the random six-character suffix). s.mu is held.
func (s *Server) lookup(id *string) (*storedSecret, *apiError) {
	if id == nil || *id == "" {
		return nil, &apiError{http.StatusBadRequest, "ValidationException", "1 validation error detected: Value null at 'secretId' failed to satisfy constraint: Member must not be null"}
	}
	var found *storedSecret
	if sec := s.secrets[*id]; sec != nil {
		found = sec
	}
	for _, sec := range s.secrets {
		if sec.arn == *id || sec.arn[:len(sec.arn)-7] == *id {
			found = sec
		}
	}
	name := *id
	if found != nil {
		name = found.name
	}
	if s.denied[name] {
		return nil, &apiError{http.StatusBadRequest, "AccessDeniedException", "User: arn:aws:iam::" + Account +
			":user/intelgate is not authorized to perform this operation on resource: " + name +
			" because no identity-based policy allows the action"}
	}
	if found == nil {
		return nil, &apiError{http.StatusBadRequest, "ResourceNotFoundException", "Secrets Manager can't find the specified secret."}
	}
	return found, nil
}

// addVersion creates a version with the labels PutSecretValue documents:
// the given stages, or AWSCURRENT when none (and always for the first
// version). s.mu is held.
func (s *Server) addVersion(sec *storedSecret, id string, str *string, bin []byte, stages []string) *version {
	now := s.now()
	v := &version{id: id, str: str, bin: bin, stages: map[string]bool{}, created: now}
	if len(stages) == 0 || len(sec.versions) == 0 {
		stages = append(stages, StageCurrent)
	}
	sec.versions[id] = v
	for _, st := range stages {
		s.attach(sec, v, st)
	}
	sec.lastChanged = now
	return v
}

// attach moves stage to v. A label is on at most one version; moving
// AWSCURRENT moves AWSPREVIOUS to the version it left.
func (s *Server) attach(sec *storedSecret, v *version, stage string) {
	old := sec.withStage(stage)
	if old == v {
		return
	}
	if old != nil {
		delete(old.stages, stage)
	}
	v.stages[stage] = true
	if stage == StageCurrent && old != nil {
		if prev := sec.withStage(StagePrevious); prev != nil {
			delete(prev.stages, StagePrevious)
		}
		old.stages[StagePrevious] = true
	}
}

func (sec *storedSecret) withStage(stage string) *version {
	for _, v := range sec.versions {
		if v.stages[stage] {
			return v
		}
	}
	return nil
}

func (v *version) sameData(str *string, bin []byte) bool {
	if str != nil {
		return v.str != nil && *v.str == *str
	}
	return v.str == nil && bytes.Equal(v.bin, bin)
}

func sortedStages(v *version) []string { return slices.Sorted(maps.Keys(v.stages)) }

func decode(body []byte, into any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, into); err != nil {
		return &apiError{http.StatusBadRequest, "SerializationException", "The request body is not valid JSON for this operation."}
	}
	return nil
}
