import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../src/clock.ts';

describe('SimulatedClock', () => {
  it('moves only when told to and fires timers in due order, ties in scheduling order', () => {
    const clock = new SimulatedClock(1000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => fired.push(`a@${clock.now()}`), 10);
    clock.setTimeout(() => fired.push(`c@${clock.now()}`), 20);
    expect(clock.now()).toBe(1000);
    clock.advance(15);
    expect(fired).toEqual(['a@1010']);
    expect(clock.now()).toBe(1015);
    clock.advance(5);
    expect(fired).toEqual(['a@1010', 'b@1020', 'c@1020']);
  });

  it('fires timers scheduled by timers inside the same advance, and honours clearTimeout', () => {
    const clock = new SimulatedClock();
    const fired: number[] = [];
    const cancelled = clock.setTimeout(() => fired.push(-1), 5);
    clock.setTimeout(() => clock.setTimeout(() => fired.push(clock.now()), 3), 4);
    clock.clearTimeout(cancelled);
    clock.advance(10);
    expect(fired).toEqual([7]);
    expect(clock.pendingTimers).toBe(0);
    expect(clock.nextTimerAt()).toBeUndefined();
  });

  it('refuses to go back in time', () => {
    const clock = new SimulatedClock(50);
    expect(() => clock.advance(-1)).toThrow(/only moves forward/);
    expect(() => clock.set(49)).toThrow(/only moves forward/);
  });
});
