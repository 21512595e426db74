package alert

// lru is a map bounded to capacity entries that forgets the least
// recently used one to make room. It is what keeps per-source and
// per-client tracking bounded when the keys are chosen by whoever sends
// requests. Not safe for concurrent use: its owner locks.
type lru[K comparable, V any] struct {
	capacity int
	m        map[K]*lruNode[K, V]
	head     lruNode[K, V] // sentinel: head.next is the most recent
}

type lruNode[K comparable, V any] struct {
	key        K
	val        V
	prev, next *lruNode[K, V]
}

func newLRU[K comparable, V any](capacity int) *lru[K, V] {
	l := &lru[K, V]{capacity: max(1, capacity), m: map[K]*lruNode[K, V]{}}
	l.head.next, l.head.prev = &l.head, &l.head
	return l
}

// get returns key's value, marking it most recent.
func (l *lru[K, V]) get(key K) (*V, bool) {
	n, ok := l.m[key]
	if !ok {
		return nil, false
	}
	l.unlink(n)
	l.pushFront(n)
	return &n.val, true
}

// put adds key (most recent) and returns its value to fill in, evicting
// the least recent entry when full; evicted reports whether one went.
func (l *lru[K, V]) put(key K) (v *V, evicted bool) {
	if n, ok := l.m[key]; ok {
		l.unlink(n)
		l.pushFront(n)
		return &n.val, false
	}
	var n *lruNode[K, V]
	if len(l.m) >= l.capacity {
		n = l.head.prev // reuse the oldest node: no allocation under a flood
		l.unlink(n)
		delete(l.m, n.key)
		evicted = true
		var zero V
		n.val = zero
	} else {
		n = &lruNode[K, V]{}
	}
	n.key = key
	l.m[key] = n
	l.pushFront(n)
	return &n.val, evicted
}

func (l *lru[K, V]) len() int { return len(l.m) }

func (l *lru[K, V]) unlink(n *lruNode[K, V]) {
	n.prev.next, n.next.prev = n.next, n.prev
}

func (l *lru[K, V]) pushFront(n *lruNode[K, V]) {
	n.prev, n.next = &l.head, l.head.next
	l.head.next.prev = n
	l.head.next = n
}
